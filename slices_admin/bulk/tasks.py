"""The background task that works a bulk edit (run by `manage.py db_worker`), and the queueing of it: runners for a
new job, and again for a job whose runners died or that is short of them (the sweep every worker runs)."""

import logging

from django.apps import apps
from django.db.models import Q
from django.db.models.functions import Now
from django.tasks import task

from . import ledger
from .changes import runners_for
from .models import BulkEditJob, BulkEditRunner
from .runner import run_job

logger = logging.getLogger(__name__)


@task
def run_bulk_job(job_id: int) -> str:
    return run_job(job_id)


def enqueue_runners(job_id: int, count: int) -> None:
    """`count` runner tasks: each worker that takes one joins the job."""
    for _ in range(count):
        run_bulk_job.enqueue(job_id)


def resume_stale_jobs() -> list[int]:
    """Queue runners for every unfinished job that has no task waiting for a worker and either has no live runner
    (they died, or it never got one; a cancelled job too: a runner checks what was in flight before closing it),
    or has fewer than it should while items wait unclaimed (a restarted worker joins the one that went on)."""
    stale = ledger.stale_before()
    waiting = _jobs_with_a_waiting_task()
    resumed = []
    unfinished = BulkEditJob.objects.filter(state__in=ledger.UNFINISHED_JOB)
    for job_id, concurrency, heartbeat_at, created_at in unfinished.values_list(
        "pk", "concurrency", "heartbeat_at", "created_at"
    ):
        if job_id in waiting:
            continue
        wanted = runners_for(concurrency)
        if (heartbeat_at or created_at) < stale:
            # Mark it, so the next sweep does not queue it again while these runners wait for a worker.
            marked = BulkEditJob.objects.filter(
                Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True), pk=job_id
            ).update(heartbeat_at=Now())
            if marked:
                enqueue_runners(job_id, wanted)
                resumed.append(job_id)
            continue
        live = BulkEditRunner.objects.filter(job_id=job_id, heartbeat_at__gte=stale).count()
        if 0 < live < wanted and ledger.unclaimed(job_id).exists():
            enqueue_runners(job_id, wanted - live)
            resumed.append(job_id)
    if resumed:
        logger.warning("bulk: queued runners for jobs %s, which had lost theirs", resumed)
    return resumed


def _jobs_with_a_waiting_task() -> set[int]:
    """Jobs whose runner task is queued and not yet taken by a worker (django-tasks-db's table, when in use)."""
    if not apps.is_installed("django_tasks_db"):  # another backend: an extra runner finds nothing to claim, and leaves
        return set()
    results = apps.get_model("django_tasks_database", "DBTaskResult").objects.ready()
    rows = results.filter(task_path=run_bulk_job.module_path).values_list("args_kwargs", flat=True)
    return {args["args"][0] for args in rows if args.get("args")}
