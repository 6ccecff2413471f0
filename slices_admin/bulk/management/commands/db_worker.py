"""`manage.py db_worker`: django-tasks-db's worker, plus the bulk-edit sweep.

On start, and then every `BULK_SWEEP_SECONDS`, the worker queues a runner for every bulk job whose runner went
quiet (killed, machine lost): django-tasks-db itself never retries a task that died with its worker.
"""

import logging
import threading

from django.conf import settings
from django.db import connection
from django_tasks_db.management.commands import db_worker

from slices_admin.bulk.engine import resume_stale_jobs

logger = logging.getLogger(__name__)


class Command(db_worker.Command):
    help = db_worker.Command.help.rstrip(".") + ", and resume bulk edits whose worker stopped."

    def handle(self, *args, **options):
        _sweep()
        threading.Thread(target=_sweep_forever, name="bulk-sweep", daemon=True).start()
        return super().handle(*args, **options)


def _sweep() -> None:
    try:
        resume_stale_jobs()
    except Exception:
        logger.exception("bulk: the sweep for stopped jobs failed; it runs again shortly")
    finally:
        connection.close()


def _sweep_forever() -> None:
    stop = threading.Event()
    while not stop.wait(settings.BULK_SWEEP_SECONDS):
        _sweep()
