"""The checks behind `/readyz`, each a yes or a short fixed reason safe to show anyone: an exception's text (which may
name a host, a user or a key) is logged here, never answered."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.dispatch import receiver
from django.utils import timezone

from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient

from .caching import TimeLimitedCache
from .models import KodexaStatus, WorkerHeartbeat

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    reason: str = ""

    def as_json(self) -> dict:
        return {"ok": True} if self.ok else {"ok": False, "reason": self.reason}


OK = Check(True)


def readiness() -> dict[str, Check]:
    """Every check, by name. The database comes first: without it the migration and worker checks cannot run, and
    Kodexa is probed rather than read from the workers' record."""
    database = check_database()
    skipped = Check(False, "Not checked: the database is unreachable.")
    return {
        "database": database,
        "migrations": check_migrations() if database.ok else skipped,
        "kodexa": check_kodexa() if database.ok else ask_kodexa(),
        "worker": check_worker_heartbeat() if database.ok else skipped,
    }


# --- database ----------------------------------------------------------------------------------------------------
def check_database() -> Check:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("readyz: the database did not answer SELECT 1", exc_info=True)
        return Check(False, "The database is unreachable.")
    return OK


# --- migrations (a positive answer holds for the life of the process: code and schema do not change under it) ---
_migrations_applied = False


def check_migrations() -> Check:
    global _migrations_applied
    if _migrations_applied:
        return OK
    try:
        pending = unapplied_migrations()
    except Exception:
        logger.warning("readyz: could not read the migration state", exc_info=True)
        return Check(False, "The migration state could not be read.")
    if pending:
        return Check(False, f"{len(pending)} migration(s) not applied: run `manage.py migrate`.")
    _migrations_applied = True
    return OK


def unapplied_migrations() -> list[str]:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


# --- Kodexa (as a worker recorded it lately; else one cheap read, remembered for a few seconds per process) -----
_kodexa_answer = TimeLimitedCache()


def check_kodexa() -> Check:
    """Kodexa's status as a background worker recorded it (every worker probes on each beat) while that record is
    recent, so load-balancer polling of every web process does not reach Kodexa; this process's own probe when no
    worker has recorded one lately."""
    recorded = recorded_kodexa_status()
    return recorded if recorded is not None else ask_kodexa()


def recorded_kodexa_status() -> Check | None:
    """The workers' latest probe of Kodexa, if one was recorded within `WORKER_HEARTBEAT_STALE_SECONDS`."""
    recent = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
    try:
        status = KodexaStatus.objects.filter(pk=1, checked_at__gte=recent).values("reachable", "reason").first()
    except Exception:
        logger.warning("readyz: could not read Kodexa's recorded status; probing it instead", exc_info=True)
        return None
    if status is None:
        return None
    return OK if status["reachable"] else Check(False, status["reason"] or "Kodexa cannot be reached.")


def ask_kodexa() -> Check:
    """This process's probe of Kodexa, its answer reused for `READYZ_KODEXA_CACHE_SECONDS` (concurrent callers wait
    for the one request in flight)."""
    return _kodexa_answer.get_or_compute("kodexa", settings.READYZ_KODEXA_CACHE_SECONDS, _ask_kodexa)


def _ask_kodexa() -> Check:
    """Kodexa is there and takes the console's key (see `KodexaClient.ping`)."""
    try:
        problem = probe_client().ping()
    except Exception:
        logger.warning("readyz: the Kodexa probe failed unexpectedly", exc_info=True)
        return Check(False, "Kodexa could not be checked.")
    match problem:
        case None:
            return OK
        case errors.KodexaAuthError():
            return Check(False, "Kodexa refused the console's API key.")
        case errors.KodexaTimeout():
            return Check(False, "Kodexa did not answer in time.")
        case errors.KodexaUnreachable():
            return Check(False, "Kodexa cannot be reached.")
        case _:
            return Check(False, "Kodexa answered with a server error.")


@cache
def probe_client() -> KodexaClient:
    """The Kodexa client with the probe's short timeout and no retries (a probe that waits is a failed probe)."""
    timeout = settings.READYZ_KODEXA_TIMEOUT
    return KodexaClient(
        settings.KODEXA_BASE_URL,
        settings.KODEXA_API_KEY,
        connect_timeout=timeout,
        read_timeout=timeout,
        max_retries=0,
        pool_size=1,
    )


def forget_kodexa_answer() -> None:
    _kodexa_answer.clear()


@receiver(setting_changed)
def _reset_on_settings_change(*, setting: str, **kwargs) -> None:
    if setting.startswith(("KODEXA_", "READYZ_")):
        probe_client.cache_clear()
        forget_kodexa_answer()


# --- background workers ------------------------------------------------------------------------------------------
def check_worker_heartbeat() -> Check:
    since = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
    try:
        alive = WorkerHeartbeat.objects.filter(seen_at__gte=since).exists()
    except Exception:
        logger.warning("readyz: could not read the worker heartbeats", exc_info=True)
        return Check(False, "The worker heartbeats could not be read.")
    if not alive:
        return Check(False, "No background worker has been seen lately: start `manage.py db_worker`.")
    return OK
