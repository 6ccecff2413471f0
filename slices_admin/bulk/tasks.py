"""The background task that works a bulk edit (run by `manage.py db_worker`)."""

from django.conf import settings
from django.tasks import task


@task
def run_bulk_job(job_id: int) -> str:
    from .engine import run_job

    return run_job(job_id)


def enqueue_runners(job_id: int) -> None:
    """One task per runner the job is meant to have: each worker that takes one joins the job."""
    for _ in range(max(1, settings.BULK_RUNNERS_PER_JOB)):
        run_bulk_job.enqueue(job_id)
