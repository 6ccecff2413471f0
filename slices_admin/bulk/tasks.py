"""The background task that works a bulk edit (run by `manage.py db_worker`), and the queueing of it: runners for a
new job, and again for a job whose runners died or that is short of them (the sweep every worker runs)."""

import logging

from django.apps import apps
from django.tasks import task

from . import ledger
from .changes import runners_for
from .models import BulkEditJob
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
    or has fewer than it should while items wait unclaimed (a restarted worker joins the one that went on).

    A job without a live runner gets them once BULK_STALE_AFTER_SECONDS have passed since it was created or since
    runners were last queued for it: queued runners may wait that long for a worker to take them."""
    stale = ledger.stale_before()
    waiting = _jobs_with_a_waiting_task()
    live = ledger.live_runners(stale)
    resumed = []
    unfinished = BulkEditJob.objects.filter(state__in=ledger.UNFINISHED_JOB)
    for job_id, concurrency, queued_at, created_at in unfinished.values_list(
        "pk", "concurrency", "runners_queued_at", "created_at"
    ):
        if job_id in waiting:
            continue
        wanted, alive = runners_for(concurrency), live.get(job_id, 0)
        if not alive:
            if (queued_at or created_at) < stale and ledger.mark_runners_queued(job_id, stale):
                enqueue_runners(job_id, wanted)
                resumed.append(job_id)
        elif alive < wanted and ledger.unclaimed(job_id).exists():
            enqueue_runners(job_id, wanted - alive)
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
