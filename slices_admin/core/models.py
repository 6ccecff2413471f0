"""Process bookkeeping the console needs to know it can serve: which background workers are alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per `manage.py db_worker` process, touched every few seconds while it runs (see `/readyz`)."""

    worker_id = models.CharField(max_length=255, unique=True)  # host:pid
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} (seen {self.seen_at:%Y-%m-%d %H:%M:%S})"
