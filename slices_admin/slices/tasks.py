"""Background tasks of the slice cache (run by `manage.py db_worker`)."""

from django.tasks import task

from slices_admin.core.services import this_worker_id

from .models import SyncRun
from .sync import perform_sync


@task()
def run_sync(sync_run_id: int) -> None:
    run = SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.Status.QUEUED).first()
    if run is not None:  # already taken, or gone: nothing to do
        perform_sync(run, worker=this_worker_id())
