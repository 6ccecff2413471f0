"""The background task that works a bulk edit (run by `manage.py db_worker`)."""

from django.conf import settings
from django.tasks import task


@task
def run_bulk_job(job_id: int) -> str:
    from .engine import run_job

    return run_job(job_id)


def runners_for(concurrency: int) -> int:
    """How many runners a job of this concurrency should have: BULK_RUNNERS_PER_JOB, but never more than one per
    request it may have in flight (each runner sends at least one at a time)."""
    return max(1, min(settings.BULK_RUNNERS_PER_JOB, concurrency))


def enqueue_runners(job_id: int, count: int) -> None:
    """`count` runner tasks: each worker that takes one joins the job."""
    for _ in range(count):
        run_bulk_job.enqueue(job_id)
