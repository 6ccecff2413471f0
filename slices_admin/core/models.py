"""Process bookkeeping the console needs to know it can serve: which background workers are alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per `manage.py db_worker` process, touched every few seconds while it runs (see `/readyz`)."""

    worker_id = models.CharField(max_length=255, unique=True)  # host:pid
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} (seen {self.seen_at:%Y-%m-%d %H:%M:%S})"


class KodexaStatus(models.Model):
    """What the background workers last found when they probed Kodexa (a single row): while it is down, every page
    says so, and still serves the cached copies; while it is recent, `/readyz` reports it instead of probing."""

    reachable = models.BooleanField()
    reason = models.CharField(max_length=200, blank=True)  # a fixed sentence (see core.readiness), never a secret
    since = models.DateTimeField()  # when it last went from reachable to not, or back
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Kodexa {'reachable' if self.reachable else 'down'} since {self.since:%Y-%m-%d %H:%M:%S}"
