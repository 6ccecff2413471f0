"""Worker heartbeats: each `db_worker` process says it is alive every few seconds, so `/readyz` can tell."""

import os
import socket
from datetime import datetime, timedelta

from django.utils import timezone

from .models import WorkerHeartbeat

FORGET_AFTER = timedelta(days=1)  # rows of workers silent this long are deleted


def this_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_worker_heartbeat(worker_id: str, started_at: datetime) -> None:
    """Upsert this worker's row, and forget workers silent for a day (a worker stopped with SIGKILL never says so)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"seen_at": now}, create_defaults={"started_at": started_at, "seen_at": now}
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()


def forget_worker(worker_id: str) -> None:
    """A worker that stops cleanly takes its row with it."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
