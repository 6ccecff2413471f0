"""The wait every sending thread of a runner honours: a 429's Retry-After, a refused API key, a pause another runner
started, and Kodexa being down, when one thread probes it now and then while the others wait. Shown on the job's row.

Kodexa down (refusing connections, or failing everything) pauses the job rather than spending its items' retries:
the failures that showed it are not counted against their items.
"""

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient

from . import events
from .decisions import looks_down
from .models import BulkEditJob

logger = logging.getLogger(__name__)

OUTAGE = "Kodexa is not answering"  # how an outage's pause reason starts


class Pauses:
    def __init__(self, job: BulkEditJob, client: KodexaClient, stop: threading.Event):
        self.job_id = job.pk
        self.client = client
        self.stop = stop  # set: the runner stops, and nobody waits any longer
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic()
        self._failing_in_a_row = 0
        self._outage = False
        self._outage_wait = settings.BULK_OUTAGE_PROBE_SECONDS
        self._probing = False
        if job.paused_until and job.paused_until > timezone.now():  # a pause a previous runner was serving
            self._until = time.monotonic() + (job.paused_until - timezone.now()).total_seconds()

    def pause(self, seconds: float, reason: str) -> None:
        """Pause the job for `seconds` (within 0.5 s and BULK_MAX_PAUSE_SECONDS), unless it already waits longer."""
        seconds = min(max(seconds, 0.5), settings.BULK_MAX_PAUSE_SECONDS)
        with self._lock:
            until = time.monotonic() + seconds
            if until <= self._until:
                return
            self._until = until
        self._show(paused_until=timezone.now() + timedelta(seconds=seconds), pause_reason=reason[:200])

    def follow(self, seconds: float) -> None:
        """Wait out a pause another runner started: Kodexa's 429 is for the whole console."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> bool:
        """Wait out a pause (during an outage, until a probe finds Kodexa answering again); False when the runner
        was stopped meanwhile."""
        while not self.stop.is_set():
            with self._lock:
                left = self._until - time.monotonic()
                probe = left <= 0 and self._outage and not self._probing
                if probe:
                    self._probing = True
                elif left <= 0 and not self._outage:
                    return True
            if probe:
                self._probe_kodexa()
            else:
                time.sleep(min(max(left, 0.05), 0.25))
        return False

    def kodexa_answered(self) -> None:
        with self._lock:
            self._failing_in_a_row = 0

    def kodexa_failed(self, exc: errors.KodexaError) -> bool:
        """Count an unavailable failure; True when it looks like Kodexa is down rather than this slice unlucky."""
        with self._lock:
            self._failing_in_a_row += 1
            down = looks_down(exc, self._failing_in_a_row, after=settings.BULK_OUTAGE_AFTER_FAILURES)
            if not down or self._outage:
                return down
            self._outage = True
            self._outage_wait = settings.BULK_OUTAGE_PROBE_SECONDS
        logger.warning("bulk job %s: Kodexa looks down (%s); pausing until it answers", self.job_id, exc.message)
        reason = self._outage_reason(exc.message)
        self.pause(self._outage_wait, reason)
        events.job_paused_by_outage.send(BulkEditJob, job_id=self.job_id, reason=reason)
        return True

    def _outage_reason(self, what: str) -> str:
        return f"{OUTAGE} ({what[:80]}). Nothing is lost: the job goes on when Kodexa answers again."

    def _probe_kodexa(self) -> None:
        """Any answer from Kodexa ends the outage (a refused key included: the next attempt meets it and pauses
        for it); none extends the wait."""
        try:
            failure = self.client.ping()
            problem = failure.message if isinstance(failure, errors.KodexaUnavailable) else None
        except Exception as exc:  # never leave the other threads waiting on a probe that died
            problem = f"the probe failed: {type(exc).__name__}"
        with self._lock:
            self._probing = False
            if problem is None:
                self._outage, self._failing_in_a_row = False, 0
            else:
                self._outage_wait = min(self._outage_wait * 2, settings.BULK_OUTAGE_PROBE_MAX_SECONDS)
        if problem is None:
            logger.info("bulk job %s: Kodexa answers again; going on", self.job_id)
            if BulkEditJob.objects.filter(pk=self.job_id, pause_reason__startswith=OUTAGE).exists():
                self._show(paused_until=None, pause_reason="")  # not another runner's 429 pause
        else:
            self.pause(self._outage_wait, self._outage_reason(problem))

    def _show(self, *, paused_until: datetime | None, pause_reason: str) -> None:
        """Put the pause on the job page (and before the other runners). Best effort: this runner's threads wait
        whether or not the database takes it."""
        try:
            BulkEditJob.objects.filter(pk=self.job_id).update(paused_until=paused_until, pause_reason=pause_reason)
        except Exception:
            logger.warning("bulk job %s: could not record the pause", self.job_id, exc_info=True)
            connection.close()
