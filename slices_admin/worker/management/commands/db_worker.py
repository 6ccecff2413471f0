"""`manage.py db_worker`: django-tasks-db's worker, plus the bulk-edit sweep and a heartbeat.

On start, and then every `BULK_SWEEP_SECONDS`, the worker queues a runner for every bulk job whose runner went
quiet (killed, machine lost): django-tasks-db itself never retries a task that died with its worker. On the same
beat it records that it is alive (`WorkerHeartbeat`, read by `/readyz`) and whether Kodexa answers (`KodexaStatus`:
pages show a banner while it does not), and recomputes the dashboard's figures once they are
`DASHBOARD_REFRESH_SECONDS` old (one worker at a time), so no page view pays for them. And the database going away
(a PostgreSQL restart, a locked SQLite file) does not end it: it waits, reconnects and goes on.

Webhook deliveries (the "notifications" queue) are worked in a thread of their own beside the main loop: a bulk edit
the main loop runs for hours must not hold up the message saying it paused.

It runs at a lower CPU priority (`WORKER_NICENESS`): on a machine it shares with the web processes, a page someone
waits for goes before background work, which waits on Kodexa most of the time anyway.
"""

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections
from django.utils import timezone
from django_tasks_db.management.commands import db_worker

from slices_admin.core.services import forget_worker, probe_kodexa, record_worker_heartbeat, this_worker_id
from slices_admin.notifications.tasks import QUEUE as NOTIFICATIONS_QUEUE
from slices_admin.slices.dashboard import refresh as refresh_dashboard
from slices_admin.worker.sweep import sweep

logger = logging.getLogger(__name__)


class Command(db_worker.Command):
    help = db_worker.Command.help.rstrip(".") + ", and resume bulk edits whose worker stopped."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.WORKER_NICENESS:
            os.nice(settings.WORKER_NICENESS)
        worker_id = this_worker_id()
        beat = functools.partial(_heartbeat, worker_id, timezone.now())
        beat()
        _sweep()
        threading.Thread(target=_sweep_forever, args=(beat,), name="sweep", daemon=True).start()
        queues = str(options.get("queue_name") or "").split(",")
        if not ({NOTIFICATIONS_QUEUE, "*"} & set(queues) or options.get("batch")):
            notifications = functools.partial(_deliver_notifications, worker_id, options)
            threading.Thread(target=notifications, name="notifications", daemon=True).start()
        try:
            with _reconnecting_worker():
                return super().handle(*args, **options)
        finally:
            _forget(worker_id)


class ReconnectingWorker(db_worker.Worker):
    """django-tasks-db's worker loop, which ends on any database error but a locked SQLite file: this one waits
    (0.5 s, doubling up to 10 s), drops the broken connections and goes on."""

    def run(self) -> None:
        wait = 0.5
        while self.running:
            started = time.monotonic()
            try:
                return super().run()
            except (OperationalError, InterfaceError):
                if time.monotonic() - started > 60:  # it had been working: a new outage starts the waits over
                    wait = 0.5
                logger.warning("worker: the database is unavailable; reconnecting in %.1f s", wait, exc_info=True)
                connections.close_all()
                time.sleep(wait)
                wait = min(wait * 2, 10.0)
        return None


@contextlib.contextmanager
def _reconnecting_worker() -> Iterator[None]:
    """The parent command builds its worker from its module's `Worker`: have it build ours."""
    original = db_worker.Worker
    db_worker.Worker = ReconnectingWorker  # type: ignore[misc]  # no hook for the worker class: the module's is swapped
    try:
        yield
    finally:
        db_worker.Worker = original  # type: ignore[misc]  # as above: the library's own class put back


def _sweep() -> None:
    try:
        sweep()
    finally:
        connection.close()


def _heartbeat(worker_id: str, started_at: datetime) -> None:
    try:
        record_worker_heartbeat(worker_id, started_at)
        probe_kodexa()
    except Exception:
        logger.exception("worker: the heartbeat was not recorded; it is tried again shortly")
    finally:
        connection.close()


def _refresh_dashboard() -> None:
    try:
        refresh_dashboard()
    except Exception:
        logger.exception("worker: the dashboard's figures were not refreshed; they are tried again shortly")
    finally:
        connection.close()


def _forget(worker_id: str) -> None:
    try:
        forget_worker(worker_id)
    except Exception:
        logger.warning("worker: could not remove its heartbeat row on the way out", exc_info=True)
    finally:
        connection.close()


def _deliver_notifications(worker_id: str, options: dict[str, Any]) -> None:
    """The "notifications" queue, worked by a loop of its own on the main loop's backend. It looks for a task at
    most once a second: on SQLite each look takes the write lock a moment, which a running bulk edit also wants."""
    worker = ReconnectingWorker(
        queue_names=[NOTIFICATIONS_QUEUE],
        interval=max(options["interval"], 1.0),
        batch=False,
        backend_name=options["backend_name"],
        startup_delay=False,
        max_tasks=None,
        worker_id=f"{worker_id}:{NOTIFICATIONS_QUEUE}"[:64],
        excluded_queue_names=[],
    )
    try:
        worker.run()
    except Exception:
        logger.exception("worker: the notifications loop stopped: webhooks wait for another worker, or a restart")
    finally:
        connection.close()


def _sweep_forever(beat: Callable[[], None]) -> None:
    stop = threading.Event()
    _refresh_dashboard()  # here, not before the worker starts: it takes seconds on a large cache
    while not stop.wait(settings.BULK_SWEEP_SECONDS):
        beat()
        _sweep()
        _refresh_dashboard()
