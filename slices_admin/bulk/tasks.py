"""The background task that works a bulk edit (run by `manage.py db_worker`)."""

from django.tasks import task


@task
def run_bulk_job(job_id: int) -> str:
    from .engine import run_job

    return run_job(job_id)
