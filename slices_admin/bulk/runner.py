"""A runner: one worker's share of a bulk edit. It joins the job, claims items a batch at a time and sends them from a
few threads over one pooled session, beats its heartbeat, follows cancel requests and other runners' pauses, and
closes the job when nothing is left. `run_job` is what the background task calls.

Several runners (one per worker process) may work one job at once. Each claims items a batch at a time (`FOR UPDATE
SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time anyway) and only ever changes the items it holds; a
runner whose heartbeat goes stale is dead, and a live one (or the next to join) takes its items back. A claimed
batch is marked in flight in one statement (`MarksAhead`), so the sending threads write nothing before their PUTs.
"""

import contextlib
import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from slices_admin.core.services import this_worker_id
from slices_admin.kodexa.client import KodexaClient

from . import ledger
from .attempts import Attempt, Sender
from .changes import runners_for
from .marks import MarksAhead
from .models import BulkEditItem, BulkEditJob
from .pauses import Pauses
from .recorder import Recorder
from .schedule import Schedule
from .throttle import Throttle

logger = logging.getLogger(__name__)


def new_runner_id() -> str:
    return f"{this_worker_id()}:{uuid.uuid4().hex[:8]}"  # the worker, and which of its runs


def bulk_client(concurrency: int) -> KodexaClient:
    """One pooled session sized to the job's concurrency. It never retries by itself: the runner does, so each
    try is one audited attempt and a 429 can pause the whole job rather than one thread."""
    return KodexaClient(
        settings.KODEXA_BASE_URL,
        settings.KODEXA_API_KEY,
        connect_timeout=settings.KODEXA_CONNECT_TIMEOUT,
        read_timeout=settings.KODEXA_READ_TIMEOUT,
        max_retries=0,
        pool_size=concurrency,
    )


def run_job(job_id: int, *, runner_id: str | None = None, client: KodexaClient | None = None) -> str:
    """Work the job, alongside any other runners, until no item is left to claim (or it is cancelled)."""
    runner_id = runner_id or new_runner_id()
    job = ledger.join(job_id, runner_id)
    if job is None:
        return "nothing to do: the job is over, paused or waiting to start"
    logger.info("bulk job %s: runner %s joins it", job_id, runner_id)
    return Runner(job, runner_id, client).run()


class Runner:
    """One worker's share of a job: its sending threads, its heartbeat, and the job's close when nothing is left."""

    def __init__(self, job: BulkEditJob, runner_id: str, client: KodexaClient | None = None):
        self.job = job
        self.runner_id = runner_id
        # The job's concurrency is its share of Kodexa, split between the runners it is meant to have.
        self.threads = max(1, job.concurrency // runners_for(job.concurrency))
        self.batch = min(128, max(32, 8 * self.threads))  # items claimed at a time
        client = client or bulk_client(self.threads)
        # SQLite has one writer at a time and makes the others sleep and poll for the lock; queueing the sending
        # threads here instead hands the lock straight over. PostgreSQL takes concurrent writers as they come.
        self._writing = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()
        self._prefetch_lock = threading.Lock()
        self._prefetched: dict[int, tuple[BulkEditItem, dict[str, Any] | None]] = {}  # claimed, not yet tried
        self.stop = threading.Event()  # cancelled, paused, or this runner was given up for dead
        self.cancelled = bool(job.cancel_requested_at)
        self.paused = False  # a person paused the job: send nothing new, record what is in flight, leave
        self.lost = False  # given up for dead by another runner, which took its items back
        self._schedule: Schedule | None = None  # while sending
        self.pauses = Pauses(job, client, self.stop)
        self.throttle = Throttle(job.pk, job.max_rate, self.stop)
        self.marks = MarksAhead(settings.BULK_STALE_AFTER_SECONDS / 2)
        # Writes successes (and, on SQLite, the marks before each PUT) from its own thread while sending.
        self.recorder = Recorder(runner_id, self._writing, group_marks=connection.vendor == "sqlite")
        self.sender = Sender(
            job,
            runner_id,
            client=client,
            pauses=self.pauses,
            throttle=self.throttle,
            recorder=self.recorder,
            marks=self.marks,
            writing=self._writing,
            stop=self.stop,
        )

    # --- the job ---------------------------------------------------------------------------------------------------
    def run(self) -> str:
        """Work the job alongside its other runners, then close it if nothing is left (or cancel it), then leave.
        The heartbeat goes on throughout, checking a cancelled job's items included."""
        beating = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(beating,), daemon=True)
        heart.start()
        try:
            while not (self.stop.is_set() or self.cancelled):
                self._work()
                # Items a dead runner held may have come back in line after this runner's last claim.
                if not ledger.unclaimed(self.job.pk).exists():
                    break
            return self._finish()
        finally:
            beating.set()
            heart.join()
            ledger.leave(self.runner_id)

    def _work(self) -> None:
        schedule = self._schedule = Schedule(self._claim)
        threads = [
            threading.Thread(target=self._send_loop, args=(schedule,), daemon=True, name=f"bulk-{self.job.pk}-{n}")
            for n in range(self.threads)
        ]
        self.recorder.start()
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            self.recorder.close()
            self._schedule = None
            if unsent := self.marks.drain():
                with self._writing:
                    ledger.unmark(unsent, self.runner_id)

    def _claim(self) -> list[int]:
        """Claim the next batch of items nobody holds, with their cached records for the first attempt, and mark in
        flight at once those whose PUT is to be built from that record (see `MarksAhead`)."""
        if self.stop.is_set():
            return []
        with self._writing:
            ids = ledger.claim(self.job.pk, self.runner_id, self.batch)
        items = ledger.held(ids, self.runner_id)
        raw = ledger.cached_records([i.slice_id for i in items])
        ahead = [(i.pk, raw[i.slice_id]) for i in items if self.sender.sends_cached(i, raw.get(i.slice_id))]
        if ahead:
            now = timezone.now()
            with self._writing:
                marked = ledger.mark_claimed_in_flight(ahead, now, self.runner_id)
            self.marks.add(marked)
            for item in items:
                if item.pk in marked:
                    item.started_at = now
        with self._prefetch_lock:
            for item in items:
                self._prefetched[item.pk] = (item, raw.get(item.slice_id))
        return [item.pk for item in items]

    def _finish(self) -> str:
        if self.lost:
            return "stopped: this runner was given up for dead; the others (or the next) go on"
        job = BulkEditJob.objects.get(pk=self.job.pk)
        if self.cancelled or job.cancel_requested_at:
            return self.cancel()
        if self.paused or job.state == BulkEditJob.State.PAUSED:
            if ledger.has_unfinished_items(job.pk):
                return "paused: what was in flight is recorded; it waits for someone to resume it"
            ledger.close_finished(job.pk)
            return "finished (paused as its last items came back)"
        if self.stop.is_set():
            return "stopped: the database was out of reach for too long; the next runner goes on"
        if ledger.has_unfinished_items(job.pk):
            return "done with its share; other runners are still working"
        ledger.close_finished(job.pk)
        return "finished"

    def cancel(self) -> str:
        """Close a cancelled job: an item whose earlier PUT's fate is unknown is checked on Kodexa first (applied
        means succeeded); everything else not yet sent ends cancelled."""
        for item in ledger.unknown_fates(self.job.pk, self.runner_id):
            self.sender.check_before_cancelling(item)
        if ledger.finish_cancelled(self.job):
            return "cancelled"
        return "cancelled its share; other runners are still checking theirs"

    def _heartbeat(self, beating: threading.Event) -> None:
        """Show this runner is alive every BULK_HEARTBEAT_SECONDS, take back the items of runners that died, and
        look twice a second for a cancel request or a pause another runner started. A runner that cannot reach the
        database for half the stale time stops sending: another takes over."""
        last_beat = last_ok = last_release = time.monotonic()
        release_every = settings.BULK_STALE_AFTER_SECONDS / 2
        try:
            while not beating.wait(0.5):
                try:
                    if time.monotonic() - last_beat >= settings.BULK_HEARTBEAT_SECONDS:
                        last_beat = time.monotonic()
                        self._beat()
                    if not self.stop.is_set() and time.monotonic() - last_release >= release_every:
                        last_release = time.monotonic()
                        if ledger.release_dead_runners(self.job.pk) and (schedule := self._schedule) is not None:
                            schedule.replenish()
                    if not self.stop.is_set():
                        self._look_at_the_job()
                    last_ok = time.monotonic()
                except Exception:
                    logger.exception("bulk job %s: heartbeat failed", self.job.pk)
                    connection.close()
                    if time.monotonic() - last_ok > settings.BULK_STALE_AFTER_SECONDS / 2:
                        logger.error("bulk job %s: no heartbeat for too long; stopping this runner", self.job.pk)
                        self.stop.set()
                if self.stop.is_set() and (schedule := self._schedule) is not None:
                    schedule.wake()
                if self.lost:
                    return
        finally:
            connection.close()

    def _beat(self) -> None:
        if ledger.beat(self.runner_id):
            self.marks.alive()
        else:  # another runner found this one silent for too long
            logger.warning("bulk job %s: runner %s was given up for dead; stopping", self.job.pk, self.runner_id)
            self.lost = True
            self.stop.set()

    def _look_at_the_job(self) -> None:
        asked = ledger.signals(self.job.pk)
        self.throttle.set_rate(asked.max_rate)
        if asked.cancel_requested_at:
            self.cancelled = True
            self.stop.set()
        elif asked.state == BulkEditJob.State.PAUSED:
            logger.info("bulk job %s: paused; runner %s sends nothing new", self.job.pk, self.runner_id)
            self.paused = True
            self.stop.set()
        elif asked.paused_until and (left := (asked.paused_until - timezone.now()).total_seconds()) > 0:
            self.pauses.follow(left)

    # --- the items -------------------------------------------------------------------------------------------------
    def _send_loop(self, schedule: Schedule) -> None:
        try:
            while (item_id := schedule.take(self.stop)) is not None:
                outcome = Attempt(retry_in=0)  # whatever happens, the item taken goes back to the schedule
                try:
                    if self.pauses.wait():
                        outcome = self.sender.attempt(*self._item(item_id))
                except Exception as exc:
                    logger.exception("bulk job %s: item %s failed unexpectedly", self.job.pk, item_id)
                    outcome = self.sender.crashed(item_id, exc)
                finally:
                    if outcome.retry_in is None:
                        schedule.done()
                    else:
                        schedule.later(item_id, outcome.retry_in)
        finally:
            connection.close()

    def _item(self, item_id: int) -> tuple[BulkEditItem, dict[str, Any] | None]:
        """The item and its cached record: as claimed for a first attempt; read afresh for a retry."""
        with self._prefetch_lock:
            found = self._prefetched.pop(item_id, None)
        if found is not None:
            return found
        item = BulkEditItem.objects.get(pk=item_id)
        return item, ledger.cached_records([item.slice_id]).get(item.slice_id)
