"""How far a bulk edit job has come: its items by state, its rate, and the time it has left."""

from dataclasses import dataclass

from django.db.models import Count, F, Q
from django.utils import timezone

from .models import BulkEditItem, BulkEditJob


@dataclass
class Progress:
    job: BulkEditJob
    counts: dict[str, int]
    total: int
    done: int
    rate: float | None  # items finished per second while running
    seconds_left: float | None

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def progress(job: BulkEditJob) -> Progress:
    return progress_of([job])[job.pk]


def progress_of(jobs: list[BulkEditJob]) -> dict[int, Progress]:
    """Each job's progress, in one query however many jobs (lists of jobs would otherwise ask per job): items by
    state, and of them the ones this run of the job worked on (a resumed or retried job counts from its latest
    start), for its rate."""
    counts = {job.pk: dict.fromkeys(BulkEditItem.State.values, 0) for job in jobs}
    worked = dict.fromkeys(counts, 0)
    since_start = Q(job__started_at__isnull=False, finished_at__gte=F("job__started_at"))
    this_run = since_start & ~Q(state=BulkEditItem.State.CANCELLED)
    rows = (
        BulkEditItem.objects.filter(job__in=jobs)
        .order_by()
        .values_list("job", "state")
        .annotate(n=Count("id"), worked=Count("id", filter=this_run))
    )
    for job_id, state, count, in_this_run in rows:
        counts[job_id][state] = count
        worked[job_id] += in_this_run
    now = timezone.now()
    result = {}
    for job in jobs:
        total = sum(counts[job.pk].values())
        done = sum(counts[job.pk][state] for state in BulkEditItem.FINAL_STATES)
        rate = seconds_left = None
        if job.started_at and worked.get(job.pk):
            elapsed = max(((job.finished_at or now) - job.started_at).total_seconds(), 0.001)
            rate = worked[job.pk] / elapsed
            if not job.finished:
                seconds_left = (total - done) / rate
        result[job.pk] = Progress(job, counts[job.pk], total, done, rate, seconds_left)
    return result
