"""Working a bulk edit's ledger: bounded concurrency over one pooled session, retries with backoff and jitter, a
job-wide pause when Kodexa says 429, heartbeats, cancellation, and resumption after a crash.

No item is applied twice. Each PUT carries a `changeSequence`, so Kodexa's optimistic lock refuses a second copy;
and before a PUT leaves, the item records the version it was sent against (`sent_change_sequence`). An attempt
whose outcome was lost (a timeout, a 5xx, a worker killed mid-request) leaves that mark, and the next attempt reads
the slice first: already changed as we asked means succeeded, untouched means send again, anything else is a
conflict for a person to look at.

Several runners (one per worker process) may work one job at once. Each claims items a batch at a time (`FOR UPDATE
SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time anyway) and only ever changes the items it holds; a
runner whose heartbeat goes stale is dead, and a live one (or the next to join) takes its items back.
"""

import contextlib
import heapq
import itertools
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, append_entry, prepare_entry
from slices_admin.core.services import this_worker_id
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import OrchestratorSlice
from slices_admin.slices.services import (
    cache_records,
    explain_unknown_field_refusal,
    prepare_cache_write,
    replacement_body,
    same_record,
)

from .models import BulkEditItem, BulkEditJob, BulkEditRunner
from .services import Change
from .tasks import enqueue_runners, runners_for

logger = logging.getLogger(__name__)

Item, Job = BulkEditItem.State, BulkEditJob.State
OUTAGE = "Kodexa is not answering"  # how an outage's pause reason starts
Action, Outcome = AuditEntry.Action, AuditEntry.Outcome
_TRANSIENT = (errors.KodexaUnavailable,)  # timeouts, unreachable, 5xx, 429


def new_runner_id() -> str:
    return f"{this_worker_id()}:{uuid.uuid4().hex[:8]}"  # the worker, and which of its runs


def bulk_client(concurrency: int) -> KodexaClient:
    """One pooled session sized to the job's concurrency. It never retries by itself: the engine does, so each
    try is one audited attempt and a 429 can pause the whole job rather than one thread."""
    return KodexaClient(
        settings.KODEXA_BASE_URL,
        settings.KODEXA_API_KEY,
        connect_timeout=settings.KODEXA_CONNECT_TIMEOUT,
        read_timeout=settings.KODEXA_READ_TIMEOUT,
        max_retries=0,
        pool_size=concurrency,
    )


# --- claiming and recovering ----------------------------------------------------------------------------------------
def database_now():
    """The database's clock. Heartbeats are written (`Now()`) and judged by it, so the clocks of the machines the
    workers run on never make a live runner look dead, however far apart they drift."""
    if connection.vendor != "postgresql":  # SQLite: one machine, one clock
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def _stale_before():
    return database_now() - timedelta(seconds=settings.BULK_STALE_AFTER_SECONDS)


def join(job_id: int, runner_id: str) -> BulkEditJob | None:
    """Become one of the job's runners, unless it is over. The items of runners that died go back in line first."""
    with transaction.atomic():
        job = BulkEditJob.objects.select_for_update().filter(pk=job_id, state__in=[Job.QUEUED, Job.RUNNING]).first()
        if job is None:
            return None
        release_dead_runners(job_id)
        BulkEditRunner.objects.create(job=job, runner_id=runner_id, heartbeat_at=Now())
        started = {} if job.started_at else {"started_at": timezone.now()}
        BulkEditJob.objects.filter(pk=job_id).update(state=Job.RUNNING, heartbeat_at=Now(), **started)
    job.refresh_from_db()
    return job


def release_dead_runners(job_id: int) -> int:
    """Put back in line the unfinished items of the job's runners that stopped beating (and of runners that left
    items behind). Their `sent_change_sequence` makes the next attempt check Kodexa before sending anything again.
    Returns how many items were released."""
    with transaction.atomic():
        BulkEditJob.objects.select_for_update().filter(pk=job_id).first()  # the job row first, as `join` takes it
        runners = BulkEditRunner.objects.filter(job_id=job_id)
        dead = runners.filter(heartbeat_at__lt=_stale_before())
        gone = dead.delete()[0]
        live = runners.values_list("runner_id", flat=True)
        held = BulkEditItem.objects.filter(job_id=job_id, state__in=[Item.PENDING, Item.IN_FLIGHT])
        orphans = held.exclude(runner_id="").exclude(runner_id__in=live)
        released = orphans.update(state=Item.PENDING, runner_id="")
        if gone or released:
            BulkEditJob.objects.filter(pk=job_id).update(resumed_count=F("resumed_count") + 1)
    if released:
        logger.warning("bulk job %s: %d items of stopped runners go back in line", job_id, released)
    return released


def resume_stale_jobs() -> list[int]:
    """Queue runners for every unfinished job that has no task waiting for a worker and either has no live runner
    (they died, or it never got one; a cancelled job too: a runner checks what was in flight before closing it),
    or has fewer than it should while items wait unclaimed (a restarted worker joins the one that went on)."""
    stale = _stale_before()
    waiting = _jobs_with_a_waiting_task()
    resumed = []
    unfinished = BulkEditJob.objects.filter(state__in=[Job.QUEUED, Job.RUNNING])
    for job_id, concurrency, heartbeat_at, created_at in unfinished.values_list(
        "pk", "concurrency", "heartbeat_at", "created_at"
    ):
        if job_id in waiting:
            continue
        wanted = runners_for(concurrency)
        if (heartbeat_at or created_at) < stale:
            # Mark it, so the next sweep does not queue it again while these runners wait for a worker.
            marked = BulkEditJob.objects.filter(
                Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True), pk=job_id
            ).update(heartbeat_at=Now())
            if marked:
                enqueue_runners(job_id, wanted)
                resumed.append(job_id)
            continue
        live = BulkEditRunner.objects.filter(job_id=job_id, heartbeat_at__gte=stale).count()
        unclaimed = BulkEditItem.objects.filter(job_id=job_id, state=Item.PENDING, runner_id="").exists()
        if 0 < live < wanted and unclaimed:
            enqueue_runners(job_id, wanted - live)
            resumed.append(job_id)
    if resumed:
        logger.warning("bulk: queued runners for jobs %s, which had lost theirs", resumed)
    return resumed


def _jobs_with_a_waiting_task() -> set[int]:
    """Jobs whose runner task is queued and not yet taken by a worker (django-tasks-db's table, when in use)."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # another backend: an extra runner finds nothing left to claim and leaves
        return set()
    from .tasks import run_bulk_job

    rows = DBTaskResult.objects.ready().filter(task_path=run_bulk_job.module_path).values_list("args_kwargs", flat=True)
    return {args["args"][0] for args in rows if args.get("args")}


def finish_cancelled(job: BulkEditJob) -> bool:
    """Cancel every item nothing was ever sent for and close the job. Items whose earlier PUT's fate is unknown
    are left for a runner to check first; returns whether the job could be closed."""
    now = timezone.now()
    with transaction.atomic():
        job.items.filter(state=Item.PENDING, sent_change_sequence__isnull=True).update(
            state=Item.CANCELLED, finished_at=now, message="Cancelled before it was sent."
        )
        if job.items.filter(state__in=[Item.PENDING, Item.IN_FLIGHT]).exists():
            return False
        BulkEditJob.objects.filter(pk=job.pk, state__in=[Job.QUEUED, Job.RUNNING]).update(
            state=Job.CANCELLED, finished_at=now, paused_until=None, pause_reason=""
        )
    return True


# --- the schedule ---------------------------------------------------------------------------------------------------
class Schedule:
    """Items due now or later, shared by the sending threads. When nothing is due it claims more through `claim`
    (one thread at a time); `take` blocks until an item is due, or returns None once all are done."""

    def __init__(self, claim: Callable[[], list[int]]):
        self._claim = claim
        self._heap: list[tuple[float, int, int]] = []
        self._order = itertools.count()
        self._outstanding = 0  # claimed and not yet final
        self._exhausted = False  # the last claim found nothing left
        self._claiming = False
        self._cond = threading.Condition()

    def take(self, stop: threading.Event) -> int | None:
        with self._cond:
            while True:
                if stop.is_set():
                    return None
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                if not self._exhausted and not self._claiming:
                    self._claim_more()
                    continue
                if self._exhausted and self._outstanding == 0 and not self._claiming:
                    return None
                wait = self._heap[0][0] - now if self._heap else 0.5
                self._cond.wait(timeout=min(wait, 0.5))

    def _claim_more(self) -> None:
        """Claim outside the lock (it queries the database) while the other threads go on taking."""
        self._claiming = True
        self._cond.release()
        try:
            claimed = self._claim()
        except Exception:
            logger.exception("bulk: claiming items failed; trying again shortly")
            claimed = None
        finally:
            self._cond.acquire()
            self._claiming = False
        if claimed is None:
            self._cond.wait(timeout=1.0)
            return
        self._exhausted = not claimed
        for item_id in claimed:
            heapq.heappush(self._heap, (0.0, next(self._order), item_id))
        self._outstanding += len(claimed)
        self._cond.notify_all()

    def later(self, item_id: int, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), item_id))
            self._cond.notify()

    def done(self) -> None:
        with self._cond:
            self._outstanding -= 1
            self._cond.notify_all()

    def replenish(self) -> None:
        """Items went back in line (a dead runner's): claim again."""
        with self._cond:
            self._exhausted = False
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


# --- writing outcomes -----------------------------------------------------------------------------------------------
class Recorder:
    """Writes items' successful outcomes (the cache, the audit entry, the item) from its own thread, many to a
    transaction, so the sending threads go on sending instead of queueing for the database.

    An outcome not yet written when the worker dies leaves its item in flight with its mark, so the next runner
    checks Kodexa and records it then: nothing is lost, nothing is sent twice."""

    BATCH = 64

    def __init__(self, writing):
        self._writing = writing
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bulk-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, cache: Callable[[], None], record: Callable[[], None]) -> None:
        """`cache` updates the slice's cached row; `record` appends the audit entry and moves the item."""
        self._queue.put((cache, record))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            closing = False
            while not closing:
                batch = [self._queue.get()]
                while len(batch) < self.BATCH and not self._queue.empty():
                    batch.append(self._queue.get())
                closing = None in batch
                self._write([write for write in batch if write is not None])
        finally:
            connection.close()

    def _write(self, batch: list[tuple[Callable[[], None], Callable[[], None]]]) -> None:
        """Every cached row first, then every audit entry: the audit log's append lock is taken last, as the web's
        edits take it (row, then log), so a batch and an edit of the same slice cannot deadlock on PostgreSQL."""
        if not batch:
            return
        try:
            with self._writing, transaction.atomic():
                for cache, _record in batch:
                    cache()
                for _cache, record in batch:
                    record()
        except Exception:
            logger.exception("bulk: writing %d outcomes together failed; writing them one by one", len(batch))
            for cache, record in batch:
                try:
                    with self._writing, transaction.atomic():
                        cache()
                        record()
                except Exception:
                    logger.exception("bulk: an outcome could not be written; the next runner checks its item")


# --- one attempt ----------------------------------------------------------------------------------------------------
@dataclass
class Attempt:
    """What one attempt at an item came to: a final state, or another try after `retry_in` seconds."""

    retry_in: float | None = None


class Runner:
    def __init__(self, job: BulkEditJob, runner_id: str, client: KodexaClient | None = None):
        self.job = job
        self.runner_id = runner_id
        self.change = Change(job.target_status, job.error_message, job.reason)
        # The job's concurrency is its share of Kodexa, split between the runners it is meant to have.
        self.threads = max(1, job.concurrency // runners_for(job.concurrency))
        self.batch = min(128, max(32, 8 * self.threads))  # items claimed at a time
        self.client = client or bulk_client(self.threads)
        self.context = AuditContext(actor=job.created_by, bulk_job_id=job.pk, reason=job.reason, actor_name="bulk edit")
        # SQLite has one writer at a time and makes the others sleep and poll for the lock; queueing the sending
        # threads here instead hands the lock straight over. PostgreSQL takes concurrent writers as they come.
        self._writing = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()
        self._recorder: Recorder | None = None  # while sending; outside that, outcomes are written at once
        self._prefetch_lock = threading.Lock()
        self._prefetched: dict[int, tuple[BulkEditItem, dict[str, Any] | None]] = {}  # claimed, not yet tried
        self.stop = threading.Event()  # cancelled, or this runner was given up for dead
        self.cancelled = bool(job.cancel_requested_at)
        self.lost = False  # given up for dead by another runner, which took its items back
        self._schedule: Schedule | None = None  # while sending
        self._pause_lock = threading.Lock()
        self._paused_until = 0.0
        # Kodexa down (refusing connections, or failing everything): the job waits, and one thread probes Kodexa
        # now and then instead of every thread burning its items' retries.
        self._failing_in_a_row = 0
        self._outage = False
        self._outage_wait = settings.BULK_OUTAGE_PROBE_SECONDS
        self._probing = False
        if job.paused_until and job.paused_until > timezone.now():  # a pause a previous runner was serving
            self._paused_until = time.monotonic() + (job.paused_until - timezone.now()).total_seconds()

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
                if not self._unclaimed().exists():
                    break
            return self._finish()
        finally:
            beating.set()
            heart.join()
            BulkEditRunner.objects.filter(runner_id=self.runner_id).delete()

    def _work(self) -> None:
        schedule = self._schedule = Schedule(self._claim)
        threads = [
            threading.Thread(target=self._send_loop, args=(schedule,), daemon=True, name=f"bulk-{self.job.pk}-{n}")
            for n in range(self.threads)
        ]
        self._recorder = Recorder(self._writing)
        self._recorder.start()
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            self._recorder.close()
            self._recorder = None
            self._schedule = None

    def _unclaimed(self):
        return self.job.items.filter(state=Item.PENDING, runner_id="")

    def _claim(self) -> list[int]:
        """Claim the next batch of items nobody holds; other runners' claims are skipped, not waited for."""
        if self.stop.is_set():
            return []
        with self._writing, transaction.atomic():
            free = self._unclaimed().order_by("pk").select_for_update(skip_locked=True)
            ids = list(free.values_list("pk", flat=True)[: self.batch])
            if ids:
                BulkEditItem.objects.filter(pk__in=ids, state=Item.PENDING, runner_id="").update(
                    runner_id=self.runner_id
                )
        items = list(BulkEditItem.objects.filter(pk__in=ids, state=Item.PENDING, runner_id=self.runner_id))
        raw = _cached_records([i.slice_id for i in items])
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
        if self.stop.is_set():
            return "stopped: the database was out of reach for too long; the next runner goes on"
        if job.items.filter(state__in=[Item.PENDING, Item.IN_FLIGHT]).exists():
            return "done with its share; other runners are still working"
        BulkEditJob.objects.filter(pk=job.pk, state=Job.RUNNING).update(
            state=Job.FINISHED, finished_at=timezone.now(), paused_until=None, pause_reason=""
        )
        return "finished"

    def cancel(self) -> str:
        """Close a cancelled job: an item whose earlier PUT's fate is unknown is checked on Kodexa first (applied
        means succeeded); everything else not yet sent ends cancelled."""
        marked = self.job.items.filter(state=Item.PENDING, sent_change_sequence__isnull=False)
        marked.filter(runner_id="").update(runner_id=self.runner_id)  # nobody's: this runner checks them
        for item in marked.filter(runner_id=self.runner_id):
            self._check_before_cancelling(item)
        if finish_cancelled(self.job):
            return "cancelled"
        return "cancelled its share; other runners are still checking theirs"

    def _check_before_cancelling(self, item: BulkEditItem) -> None:
        context = self.context.but(request_id=f"bulk-{self.job.pk}-{item.pk}-{item.attempts + 1}")
        cached = _cached_records([item.slice_id]).get(item.slice_id)
        try:
            current = self._get(item, context, fallback=cached)
        except errors.KodexaError as exc:
            self._save(item, Item.FAILED, message=(
                f"Cancelled, but whether an earlier attempt was applied could not be checked ({exc.message}). "
                "Refresh the slice to see."
            ))  # fmt: skip
            return
        if self._applied(current, self.change.applied_to(current), item.sent_change_sequence):
            self._succeeded(item, context, before=cached, body=None, record=current, status=200,
                            note="An earlier attempt was applied; its answer had been lost.")  # fmt: skip
        else:
            self._save(item, Item.CANCELLED, message="Cancelled; Kodexa shows the earlier attempt was not applied.")

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
                        if release_dead_runners(self.job.pk) and (schedule := self._schedule) is not None:
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
        if BulkEditRunner.objects.filter(runner_id=self.runner_id).update(heartbeat_at=Now()):
            BulkEditJob.objects.filter(pk=self.job.pk).update(heartbeat_at=Now())
        else:  # another runner found this one silent for too long and took its items back
            logger.warning("bulk job %s: runner %s was given up for dead; stopping", self.job.pk, self.runner_id)
            self.lost = True
            self.stop.set()

    def _look_at_the_job(self) -> None:
        cancel_requested_at, paused_until = (
            BulkEditJob.objects.filter(pk=self.job.pk).values_list("cancel_requested_at", "paused_until").get()
        )
        if cancel_requested_at:
            self.cancelled = True
            self.stop.set()
        elif paused_until and (left := (paused_until - timezone.now()).total_seconds()) > 0:
            with self._pause_lock:  # a pause another runner started: Kodexa's 429 is for the whole console
                self._paused_until = max(self._paused_until, time.monotonic() + left)

    def _send_loop(self, schedule: Schedule) -> None:
        try:
            while (item_id := schedule.take(self.stop)) is not None:
                outcome = Attempt(retry_in=0)  # whatever happens, the item taken goes back to the schedule
                try:
                    if self._wait_while_paused():
                        outcome = self.attempt(item_id)
                except Exception as exc:
                    logger.exception("bulk job %s: item %s failed unexpectedly", self.job.pk, item_id)
                    outcome = self._crashed(item_id, exc)
                finally:
                    if outcome.retry_in is None:
                        schedule.done()
                    else:
                        schedule.later(item_id, outcome.retry_in)
        finally:
            connection.close()

    # --- pausing ---------------------------------------------------------------------------------------------------
    def _pause(self, seconds: float, reason: str) -> None:
        seconds = min(max(seconds, 0.5), settings.BULK_MAX_PAUSE_SECONDS)
        with self._pause_lock:
            until = time.monotonic() + seconds
            if until <= self._paused_until:
                return
            self._paused_until = until
        self._show_pause(paused_until=timezone.now() + timedelta(seconds=seconds), pause_reason=reason[:200])

    def _show_pause(self, **fields) -> None:
        """Put the pause on the job page (and before the other runners). Best effort: this runner's threads wait
        whether or not the database takes it."""
        try:
            BulkEditJob.objects.filter(pk=self.job.pk).update(**fields)
        except Exception:
            logger.warning("bulk job %s: could not record the pause", self.job.pk, exc_info=True)
            connection.close()

    def _wait_while_paused(self) -> bool:
        """Wait out a pause (during an outage, until a probe finds Kodexa answering again); False when the runner
        was stopped meanwhile."""
        while not self.stop.is_set():
            with self._pause_lock:
                left = self._paused_until - time.monotonic()
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

    def _kodexa_answered(self) -> None:
        with self._pause_lock:
            self._failing_in_a_row = 0

    def _kodexa_failed(self, exc: errors.KodexaError) -> bool:
        """Count a transient failure; True when it looks like Kodexa is down rather than this slice unlucky."""
        with self._pause_lock:
            self._failing_in_a_row += 1
            down = isinstance(exc, errors.KodexaUnreachable)
            down = down or self._failing_in_a_row >= settings.BULK_OUTAGE_AFTER_FAILURES
            if not down or self._outage:
                return down
            self._outage = True
            self._outage_wait = settings.BULK_OUTAGE_PROBE_SECONDS
        logger.warning("bulk job %s: Kodexa looks down (%s); pausing until it answers", self.job.pk, exc.message)
        self._pause(self._outage_wait, self._outage_reason(exc.message))
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
        with self._pause_lock:
            self._probing = False
            if problem is None:
                self._outage, self._failing_in_a_row = False, 0
            else:
                self._outage_wait = min(self._outage_wait * 2, settings.BULK_OUTAGE_PROBE_MAX_SECONDS)
        if problem is None:
            logger.info("bulk job %s: Kodexa answers again; going on", self.job.pk)
            if BulkEditJob.objects.filter(pk=self.job.pk, pause_reason__startswith=OUTAGE).exists():
                self._show_pause(paused_until=None, pause_reason="")  # not another runner's 429 pause
        else:
            self._pause(self._outage_wait, self._outage_reason(problem))

    @staticmethod
    def _backoff(failures: int) -> float:
        """Full jitter: anywhere from 0 to base * 2^(failures-1), capped at 30 s."""
        return random.uniform(0, min(30.0, settings.BULK_BACKOFF_SECONDS * 2 ** max(failures - 1, 0)))

    # --- one item --------------------------------------------------------------------------------------------------
    def _item(self, item_id: int) -> tuple[BulkEditItem, dict[str, Any] | None]:
        """The item and its cached record: as claimed for a first attempt; read afresh for a retry."""
        with self._prefetch_lock:
            found = self._prefetched.pop(item_id, None)
        if found is not None:
            return found
        item = BulkEditItem.objects.get(pk=item_id)
        return item, _cached_records([item.slice_id]).get(item.slice_id)

    def attempt(self, item_id: int) -> Attempt:
        item, cached = self._item(item_id)
        if item.final:
            return Attempt()
        if item.started_at is None:
            item.started_at = timezone.now()
        context = self.context.but(request_id=f"bulk-{self.job.pk}-{item.pk}-{item.attempts + 1}")
        try:
            base = self._base(item, context, cached)
        except errors.KodexaError as exc:
            return self._failed(item, context, exc, before=None, body=None)
        if base is None:  # decided without sending: a conflict or a skip
            return Attempt()
        if self.change.already_applied(base.get("status"), base.get("errorMessage")):
            self._save(item, Item.SKIPPED, message=f"Already {base.get('status')} on Kodexa: nothing to change.")
            return Attempt()
        body = replacement_body(base, self.change.applied_to({}))
        sent = base.get("changeSequence")
        if self.stop.is_set() or not self._wait_while_paused():
            return Attempt(retry_in=0)  # cancelled (or taken over) while getting ready: nothing sent
        with self._writing:
            marked = _mark_in_flight(item.pk, sent, item.started_at, self.runner_id)
        if not marked:
            return Attempt()  # no longer this runner's (cancelled, or taken back as this runner was thought dead)
        item.state, item.sent_change_sequence = Item.IN_FLIGHT, sent
        try:
            answer = self.client.replace(ORCHESTRATOR_SLICE, item.slice_id, body, request_id=context.request_id)
        except errors.KodexaConflict as exc:
            current = self._read(item, context)
            if current is not None and self._applied(current, body, sent):
                return self._succeeded(
                    item,
                    context,
                    before=base,
                    body=body,
                    record=current,
                    status=exc.status,
                    note="Kodexa answered 409, but its record already holds this change.",
                )
            return self._conflict(item, context, before=base, body=body, current=current, exc=exc)
        except errors.KodexaError as exc:
            return self._failed(item, context, exc, before=base, body=body)
        return self._succeeded(
            item,
            context,
            before=base,
            body=body,
            record=answer.body,
            status=answer.status,
            duration_ms=answer.duration_ms,
        )

    def _base(self, item: BulkEditItem, context: AuditContext, cached: dict[str, Any] | None) -> dict[str, Any] | None:
        """The version to change: Kodexa's current one, or the cached one the operator selected. None when the
        attempt ended here (the slice changed since it was selected, or an earlier attempt turns out applied)."""
        if item.sent_change_sequence is not None:  # an earlier PUT's fate is unknown: look before sending again
            current = self._get(item, context, fallback=cached)
            if self._applied(current, self.change.applied_to(current), item.sent_change_sequence):
                self._succeeded(
                    item,
                    context,
                    before=None,
                    body=None,
                    record=current,
                    status=200,
                    note="An earlier attempt was applied; its answer had been lost.",
                )
                return None
            if current.get("changeSequence") != item.sent_change_sequence:
                self._conflict(item, context, before=None, body=None, current=current, exc=None)
                return None
            return current
        if settings.BULK_READ_BEFORE_WRITE or cached is None or item.expected_change_sequence is None:
            current = self._get(item, context, fallback=cached)
        else:
            current = cached  # Kodexa's lock refuses the PUT if this copy is no longer current
        expected = item.expected_change_sequence
        if expected is not None and current.get("changeSequence") != expected:
            self._conflict(item, context, before=None, body=None, current=current, exc=None)
            return None
        return current

    def _get(self, item: BulkEditItem, context: AuditContext, fallback=None) -> dict[str, Any]:
        """Kodexa's current record (cached on the way); the cached copy where Kodexa offers no read."""
        self._wait_while_paused()
        try:
            answer = self.client.get(ORCHESTRATOR_SLICE, item.slice_id, request_id=context.request_id)
        except errors.KodexaNotSupported:
            if fallback is not None:
                return fallback
            raise
        with self._writing, transaction.atomic():
            cache_records(ORCHESTRATOR_SLICE, [answer.body])
        return answer.body

    def _read(self, item: BulkEditItem, context: AuditContext) -> dict[str, Any] | None:
        try:
            return self._get(item, context)
        except errors.KodexaError:
            return None

    @staticmethod
    def _applied(current: Mapping[str, Any], body: Mapping[str, Any], sent: int | None) -> bool:
        version = current.get("changeSequence")
        moved_on = sent is None or (isinstance(version, int) and version > sent)
        return moved_on and same_record(ORCHESTRATOR_SLICE, current, body)

    def _crashed(self, item_id: int, exc: Exception) -> Attempt:
        """A bug or a database failure, not Kodexa: an audited attempt rather than an endless retry. If a PUT may
        have gone out, the item is tried again (its next attempt checks Kodexa first) until the retries run out."""
        try:
            item = BulkEditItem.objects.get(pk=item_id)
            maybe_sent = item.sent_change_sequence is not None
            kind = errors.KodexaUnavailable if maybe_sent else errors.KodexaError
            problem = kind(None, f"The console failed on this slice ({type(exc).__name__}).")
            problem.advice = "The server log has the details."
            return self._failed(
                item,
                self.context.but(request_id=f"bulk-{self.job.pk}-{item.pk}-error"),
                problem,
                before=None,
                body=None,
                console_failed=True,
            )
        except Exception:
            logger.exception("bulk job %s: could not record the failure of item %s", self.job.pk, item_id)
            return Attempt()

    # --- outcomes (each writes the item and exactly one audit entry) -----------------------------------------------
    def _save(self, item: BulkEditItem, state: str, *, attempted: bool = False, **fields) -> None:
        """Record an item's new state. An attempt is counted whatever happens (it has its audit entry), but the
        state only moves if this runner still holds the item (claimed by it, and not final)."""
        final = state in BulkEditItem.FINAL_STATES
        if attempted:
            fields["attempts"] = F("attempts") + 1
        moved = BulkEditItem.objects.filter(
            pk=item.pk, state__in=[Item.PENDING, Item.IN_FLIGHT], runner_id=self.runner_id
        ).update(state=state, finished_at=timezone.now() if final else None, started_at=item.started_at, **fields)
        if attempted and not moved:
            BulkEditItem.objects.filter(pk=item.pk).update(attempts=F("attempts") + 1)

    def _succeeded(self, item, context, *, before, body, record, status, note="", duration_ms=None) -> Attempt:
        self._kodexa_answered()
        cache_write = prepare_cache_write(ORCHESTRATOR_SLICE, [record])
        entry = prepare_entry(
            context,
            action=Action.UPDATE,
            outcome=Outcome.SUCCEEDED,
            resource=ORCHESTRATOR_SLICE.path,
            remote_id=item.slice_id,
            request_body=body,
            response_status=status,
            response_body=record,
            before=before,
            after=record,
            error=note,
            duration_ms=duration_ms,
        )

        def write_record() -> None:
            append_entry(entry)
            self._save(
                item,
                Item.SUCCEEDED,
                attempted=True,
                status_code=status,
                message=note,
                result_change_sequence=record.get("changeSequence"),
            )

        if self._recorder is not None:
            self._recorder.submit(cache_write.apply, write_record)
        else:
            with self._writing, transaction.atomic():
                cache_write.apply()
                write_record()
        return Attempt()

    def _conflict(self, item, context, *, before, body, current, exc) -> Attempt:
        self._kodexa_answered()
        if current is not None:
            message = (
                f"Changed since it was selected: Kodexa has changeSequence {current.get('changeSequence')} "
                f"(status {current.get('status')}), not {item.sent_change_sequence or item.expected_change_sequence}."
                " Review it; re-apply on the current version if the change still makes sense."
            )
        else:
            message = "Kodexa refused the change as stale, and the current version could not be read."
        entry = prepare_entry(
            context,
            action=Action.UPDATE,
            outcome=Outcome.CONFLICT,
            resource=ORCHESTRATOR_SLICE.path,
            remote_id=item.slice_id,
            request_body=body,
            response_status=exc.status if exc else None,
            response_body=exc.body if exc else None,
            before=before or current,
            error=message,
            duration_ms=exc.duration_ms if exc else None,
        )
        with self._writing, transaction.atomic():
            append_entry(entry)
            self._save(
                item,
                Item.CONFLICT,
                attempted=True,
                status_code=exc.status if exc else None,
                message=message,
                current_status=(current or {}).get("status") or "",
                current_change_sequence=(current or {}).get("changeSequence"),
            )
        return Attempt()

    def _failed(self, item, context, exc: errors.KodexaError, *, before, body, console_failed=False) -> Attempt:
        rate_limited = isinstance(exc, errors.KodexaRateLimited)
        refused_key = isinstance(exc, errors.KodexaAuthError)  # the console's problem, not this slice's
        transient = rate_limited or refused_key or isinstance(exc, _TRANSIENT)
        if console_failed:
            outage = False  # the console's failure says nothing about Kodexa
        elif transient and not (rate_limited or refused_key):
            outage = self._kodexa_failed(exc)  # not this slice's failure either: it is not counted against it
        else:
            outage = False
            self._kodexa_answered()
        pauses = rate_limited or refused_key or outage
        failures = item.transient_failures + (0 if pauses else 1)
        gives_up = transient and not pauses and failures >= settings.BULK_MAX_TRANSIENT_FAILURES
        explain_unknown_field_refusal(exc, body)
        message = f"{exc.message} {exc.advice}".strip()
        if outage:
            message = f"{exc.message} Kodexa looks down: the job paused, and sends it again once Kodexa answers."
        elif rate_limited:
            wait = exc.retry_after if exc.retry_after is not None else 5.0
            self._pause(wait, f"Kodexa asked to slow down (429): paused for {wait:g} s.")
            message = f"{exc.message} The job paused for {wait:g} s and will send it again."
        elif refused_key:
            self._pause(settings.BULK_KEY_REFUSED_PAUSE_SECONDS, f"Kodexa refused the console's API key. {exc.advice}")
            message = f"{exc.message} The job paused; it goes on once the key is fixed (or cancel it)."
        elif transient and not gives_up:
            message = f"{exc.message} Will try again (failure {failures} of {settings.BULK_MAX_TRANSIENT_FAILURES})."
        elif gives_up:
            message = f"{exc.message} Gave up after {failures} tries. {exc.advice}".strip()
        entry = prepare_entry(
            context,
            action=Action.UPDATE,
            outcome=Outcome.REJECTED if not transient else Outcome.FAILED,
            resource=ORCHESTRATOR_SLICE.path,
            remote_id=item.slice_id,
            request_body=body,
            response_status=exc.status,
            response_body=exc.body,
            before=before,
            error=message,
            duration_ms=exc.duration_ms,
        )
        with self._writing, transaction.atomic():
            append_entry(entry)
            if transient and not gives_up:
                # A 429 or 401 answering the PUT means Kodexa did nothing with it; one answering the checking read
                # leaves an earlier PUT's fate as unknown as it was (and so does any failure without an answer).
                answered = rate_limited or refused_key
                unknown = None if answered and body is not None else item.sent_change_sequence
                self._save(
                    item,
                    Item.PENDING,
                    attempted=True,
                    transient_failures=failures,
                    status_code=exc.status,
                    message=message,
                    sent_change_sequence=unknown,
                )
            else:
                self._save(
                    item,
                    Item.FAILED,
                    attempted=True,
                    transient_failures=failures,
                    status_code=exc.status,
                    message=message,
                )
        if gives_up or not transient:
            return Attempt()
        return Attempt(retry_in=0 if pauses else self._backoff(failures))


def _cached_records(slice_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The cached copies (Kodexa's JSON as last read) of these slices, by id."""
    return dict(OrchestratorSlice.objects.filter(id__in=slice_ids).values_list("id", "raw"))


def _mark_in_flight(item_id: int, sent: int | None, started_at, runner_id: str) -> int:
    """Pending → in flight for the runner holding it, with the version about to be sent (written out: it runs
    before every PUT)."""
    table = BulkEditItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, sent_change_sequence = %s, started_at = %s, runner_id = %s "  # noqa: S608
            "WHERE id = %s AND state = %s AND runner_id = %s",
            [
                Item.IN_FLIGHT,
                sent,
                connection.ops.adapt_datetimefield_value(started_at),
                runner_id,
                item_id,
                Item.PENDING,
                runner_id,
            ],
        )
        return cursor.rowcount


# --- entry point --------------------------------------------------------------------------------------------------
def run_job(job_id: int, *, runner_id: str | None = None, client: KodexaClient | None = None) -> str:
    """Work the job, alongside any other runners, until no item is left to claim (or it is cancelled)."""
    runner_id = runner_id or new_runner_id()
    job = join(job_id, runner_id)
    if job is None:
        return "nothing to do: the job is over"
    logger.info("bulk job %s: runner %s joins it", job_id, runner_id)
    return Runner(job, runner_id, client).run()
