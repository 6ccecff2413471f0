"""What the background workers report: that they are alive (for `/readyz`), and whether Kodexa answers (for
`/readyz`, and for the banner every page shows while it does not)."""

import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .caching import TimeLimitedCache
from .models import KodexaStatus, WorkerHeartbeat
from .readiness import ask_kodexa

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


# --- Kodexa's status ---------------------------------------------------------------------------------------------
def probe_kodexa() -> KodexaStatus:
    """Ask Kodexa (the `/readyz` probe) and record the answer, which `/readyz` and the banner read while it is
    recent; `since` moves only when the answer changes."""
    check, now = ask_kodexa(), timezone.now()
    with transaction.atomic():
        status = KodexaStatus.objects.select_for_update().filter(pk=1).first()
        if status is None:
            status = KodexaStatus(pk=1, reachable=check.ok, since=now)
        elif status.reachable != check.ok:
            status.reachable, status.since = check.ok, now
        status.reason, status.checked_at = check.reason, now
        status.save()
    forget_kodexa_outage()
    return status


_outage_read = TimeLimitedCache()


def kodexa_outage() -> KodexaStatus | None:
    """Kodexa's outage as the workers last saw it, or None (reachable, or nobody has probed it lately). Read from
    the database at most every few seconds per process: every page asks."""
    return _outage_read.get_or_compute("outage", settings.KODEXA_STATUS_CACHE_SECONDS, _read_outage)


def _read_outage() -> KodexaStatus | None:
    recent = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
    return KodexaStatus.objects.filter(pk=1, reachable=False, checked_at__gte=recent).first()


def forget_kodexa_outage() -> None:
    _outage_read.clear()
