"""Background tasks of the slice cache (run by `manage.py db_worker`)."""

from django.tasks import task

from .models import SyncRun


@task()
def run_sync(sync_run_id: int) -> None:
    from .services import perform_sync

    run = SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.Status.QUEUED).first()
    if run is not None:  # already taken, or gone: nothing to do
        perform_sync(run)
