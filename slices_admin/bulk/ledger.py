"""The item ledger in the database: runners joining a job, beating and leaving; items claimed, marked in flight and
moved to their outcome; the items of dead runners put back in line; a job closed. No Kodexa, no threads.

A runner only ever moves the items it holds (claimed by it, not final): every write here that moves an item says
which runner it is for, so one given up for dead cannot overwrite what its successor did.
"""

import logging
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypedDict, Unpack

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from slices_admin.slices.models import OrchestratorSlice

from . import events
from .models import BulkEditItem, BulkEditJob, BulkEditRunner

logger = logging.getLogger(__name__)

UNFINISHED_JOB = (BulkEditJob.State.QUEUED, BulkEditJob.State.RUNNING)
UNFINISHED_ITEM = (BulkEditItem.State.PENDING, BulkEditItem.State.IN_FLIGHT)


# --- runners ------------------------------------------------------------------------------------------------------
def database_now() -> datetime:
    """The database's clock. Heartbeats are written (`Now()`) and judged by it, so the clocks of the machines the
    workers run on never make a live runner look dead, however far apart they drift."""
    if connection.vendor != "postgresql":  # SQLite: one machine, one clock
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        now: datetime = cursor.fetchone()[0]  # the cursor's rows are untyped; a timestamptz comes back a datetime
        return now


def stale_before() -> datetime:
    """A heartbeat older than this is a dead runner's."""
    return database_now() - timedelta(seconds=settings.BULK_STALE_AFTER_SECONDS)


def join(job_id: int, runner_id: str) -> BulkEditJob | None:
    """Become one of the job's runners, unless it is over. The items of runners that died go back in line first."""
    with transaction.atomic():
        job = BulkEditJob.objects.select_for_update().filter(pk=job_id, state__in=UNFINISHED_JOB).first()
        if job is None:
            return None
        release_dead_runners(job_id)
        BulkEditRunner.objects.create(job=job, runner_id=runner_id, heartbeat_at=Now())
        started = {} if job.started_at else {"started_at": timezone.now()}
        BulkEditJob.objects.filter(pk=job_id).update(state=BulkEditJob.State.RUNNING, **started)
    job.refresh_from_db()
    return job


def beat(runner_id: str) -> bool:
    """Record that the runner is alive; False when it is no longer one of the job's runners (another found it
    silent for too long and took its items back)."""
    return bool(BulkEditRunner.objects.filter(runner_id=runner_id).update(heartbeat_at=Now()))


def leave(runner_id: str) -> None:
    """Stop being one of the job's runners; the items it claimed and never sent go back in line at once."""
    with transaction.atomic():
        BulkEditRunner.objects.filter(runner_id=runner_id).delete()
        BulkEditItem.objects.filter(runner_id=runner_id, state=BulkEditItem.State.PENDING).update(runner_id="")


def live_runners(stale: datetime) -> dict[int, int]:
    """How many runners each unfinished job has that beat since `stale`."""
    live = BulkEditRunner.objects.filter(job__state__in=UNFINISHED_JOB, heartbeat_at__gte=stale)
    return dict(live.order_by().values_list("job").annotate(n=Count("id")))


def mark_runners_queued(job_id: int, stale: datetime) -> bool:
    """Note that runners are queued for the job, unless another sweep did since `stale`: True for the one sweep
    that is to queue them."""
    unmarked = Q(runners_queued_at__lt=stale) | Q(runners_queued_at__isnull=True)
    return bool(BulkEditJob.objects.filter(unmarked, pk=job_id).update(runners_queued_at=Now()))


def release_dead_runners(job_id: int) -> int:
    """Put back in line the unfinished items of the job's runners that stopped beating (and of runners that left
    items behind). Their `sent_change_sequence` makes the next attempt check Kodexa before sending anything again.
    Returns how many items were released."""
    with transaction.atomic():
        BulkEditJob.objects.select_for_update().filter(pk=job_id).first()  # the job row first, as `join` takes it
        runners = BulkEditRunner.objects.filter(job_id=job_id)
        dead = runners.filter(heartbeat_at__lt=stale_before())
        gone = dead.delete()[0]
        live = runners.values_list("runner_id", flat=True)
        held = BulkEditItem.objects.filter(job_id=job_id, state__in=UNFINISHED_ITEM)
        orphans = held.exclude(runner_id="").exclude(runner_id__in=live)
        released = orphans.update(state=BulkEditItem.State.PENDING, runner_id="")
        if gone or released:
            BulkEditJob.objects.filter(pk=job_id).update(resumed_count=F("resumed_count") + 1)
    if released:
        logger.warning("bulk job %s: %d items of stopped runners go back in line", job_id, released)
    return released


# --- the job --------------------------------------------------------------------------------------------------------
class Signals(NamedTuple):
    """What the job asks of its runners now."""

    cancel_requested_at: datetime | None
    paused_until: datetime | None  # Kodexa asked it to wait (a 429, an outage)
    state: str  # paused: a person paused it
    max_rate: float | None


def signals(job_id: int) -> Signals:
    fields = ("cancel_requested_at", "paused_until", "state", "max_rate")
    return Signals(*BulkEditJob.objects.filter(pk=job_id).values_list(*fields).get())


def reserve_slots(job_id: int, count: int) -> tuple[float | None, float]:
    """Reserve the job's next `count` send slots at its maximum rate, for whichever runner asks: the slots of all
    its runners follow one another, so the rate holds for the job as a whole. Returns the rate (None: no limit, so
    nothing was reserved) and how many seconds from now the first slot is; the others follow at 1/rate."""
    with transaction.atomic():
        rate, next_slot = (
            BulkEditJob.objects.select_for_update().filter(pk=job_id).values_list("max_rate", "rate_next_slot").get()
        )
        if not rate:
            return None, 0.0
        now = database_now()
        first = max(next_slot or now, now)
        BulkEditJob.objects.filter(pk=job_id).update(rate_next_slot=first + timedelta(seconds=count / rate))
    return rate, (first - now).total_seconds()


def has_unfinished_items(job_id: int) -> bool:
    return BulkEditItem.objects.filter(job_id=job_id, state__in=UNFINISHED_ITEM).exists()


def close_finished(job_id: int) -> None:
    """The job is done: every item has its outcome."""
    closed = BulkEditJob.objects.filter(
        pk=job_id, state__in=(BulkEditJob.State.RUNNING, BulkEditJob.State.PAUSED)
    ).update(state=BulkEditJob.State.FINISHED, finished_at=timezone.now(), paused_until=None, pause_reason="")
    if closed:
        events.job_ended.send(BulkEditJob, job_id=job_id)


def finish_cancelled(job: BulkEditJob) -> bool:
    """Cancel every item nothing was ever sent for and close the job. Items whose earlier PUT's fate is unknown
    are left for a runner to check first; returns whether the job could be closed."""
    now = timezone.now()
    with transaction.atomic():
        job.items.filter(state=BulkEditItem.State.PENDING, sent_change_sequence__isnull=True).update(
            state=BulkEditItem.State.CANCELLED, finished_at=now, message="Cancelled before it was sent."
        )
        if job.items.filter(state__in=UNFINISHED_ITEM).exists():
            return False
        closed = BulkEditJob.objects.filter(pk=job.pk, state__in=UNFINISHED_JOB).update(
            state=BulkEditJob.State.CANCELLED, finished_at=now, paused_until=None, pause_reason=""
        )
        if closed:
            events.job_ended.send(BulkEditJob, job_id=job.pk)
    return True


# --- items --------------------------------------------------------------------------------------------------------
def unclaimed(job_id: int) -> QuerySet[BulkEditItem]:
    return BulkEditItem.objects.filter(job_id=job_id, state=BulkEditItem.State.PENDING, runner_id="")


def claim(job_id: int, runner_id: str, batch: int) -> list[int]:
    """Claim up to `batch` items nobody holds, in order; other runners' claims are skipped, not waited for."""
    with transaction.atomic():
        free = unclaimed(job_id).order_by("pk").select_for_update(skip_locked=True)
        ids = list(free.values_list("pk", flat=True)[:batch])
        if ids:
            BulkEditItem.objects.filter(pk__in=ids, state=BulkEditItem.State.PENDING, runner_id="").update(
                runner_id=runner_id
            )
    return ids


def held(item_ids: list[int], runner_id: str) -> list[BulkEditItem]:
    """Those of these items the runner holds and has not tried yet."""
    return list(BulkEditItem.objects.filter(pk__in=item_ids, state=BulkEditItem.State.PENDING, runner_id=runner_id))


def unknown_fates(job_id: int, runner_id: str) -> QuerySet[BulkEditItem]:
    """The items of a cancelled job whose earlier PUT's fate is unknown that this runner is to check: its own, and
    those nobody holds (which it takes)."""
    marked = BulkEditItem.objects.filter(
        job_id=job_id, state=BulkEditItem.State.PENDING, sent_change_sequence__isnull=False
    )
    marked.filter(runner_id="").update(runner_id=runner_id)
    return marked.filter(runner_id=runner_id)


def cached_records(slice_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The cached copies (Kodexa's JSON as last read) of these slices, by id."""
    return dict(OrchestratorSlice.objects.filter(id__in=slice_ids).values_list("id", "raw"))


_MARK = (
    "UPDATE {table} SET state = %s, sent_change_sequence = %s, before_status = %s, before_error_message = %s, "
    "started_at = %s, runner_id = %s WHERE id = %s AND state IN (%s, %s) AND runner_id = %s"
)


def _mark_params(item_id: int, base: dict[str, Any], started_at: datetime | None, runner_id: str) -> list[Any]:
    return [
        BulkEditItem.State.IN_FLIGHT,
        base.get("changeSequence"),
        str(base.get("status") or "")[:64],
        str(base.get("errorMessage") or ""),
        connection.ops.adapt_datetimefield_value(started_at),
        runner_id,
        item_id,
        *UNFINISHED_ITEM,
        runner_id,
    ]


def mark_in_flight(item_id: int, base: dict[str, Any], started_at: datetime | None, runner_id: str) -> int:
    """Pending (or marked ahead, see `mark_claimed_in_flight`) → in flight for the runner holding it, with the version
    about to be sent and its status and error message (what an undo puts back); written out: it runs before a PUT.
    Returns 0 when the item is no longer the runner's."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK.format(table=BulkEditItem._meta.db_table), _mark_params(item_id, base, started_at, runner_id)
        )
        marked: int = cursor.rowcount  # the cursor's attributes are untyped; DB-API's rowcount is an int
        return marked


def mark_claimed_in_flight(marks: list[tuple[int, dict[str, Any]]], started_at: datetime, runner_id: str) -> set[int]:
    """`mark_in_flight` for many items at once, ahead of their PUTs: (item id, the version it will be sent against).
    The ids of those now marked for the runner. An item so marked that is never sent goes back with `unmark`; if
    the runner dies first, the next one checks Kodexa before sending it, as for any item whose PUT's fate is
    unknown."""
    if not marks:
        return set()
    sql = _MARK.format(table=BulkEditItem._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, [_mark_params(item_id, base, started_at, runner_id) for item_id, base in marks])
        marked = BulkEditItem.objects.filter(
            pk__in=[item_id for item_id, _ in marks], state=BulkEditItem.State.IN_FLIGHT, runner_id=runner_id
        )
        return set(marked.values_list("pk", flat=True))


def unmark(item_ids: list[int], runner_id: str) -> int:
    """In flight → pending again, for items this runner marked ahead and never sent (it stops: paused, cancelled,
    out of items): nothing was sent, so nothing needs checking on Kodexa."""
    return BulkEditItem.objects.filter(pk__in=item_ids, state=BulkEditItem.State.IN_FLIGHT, runner_id=runner_id).update(
        state=BulkEditItem.State.PENDING, sent_change_sequence=None, started_at=None
    )


class ItemFields(TypedDict, total=False):
    """What an outcome writes on an item besides its state (see `save_item`)."""

    message: str
    status_code: int | None
    transient_failures: int
    sent_change_sequence: int | None
    result_change_sequence: int | None
    current_status: str
    current_change_sequence: int | None


def save_item(
    item: BulkEditItem, state: str, runner_id: str, *, attempted: bool = False, **fields: Unpack[ItemFields]
) -> None:
    """Record an item's new state. An attempt is counted whatever happens (it has its audit entry), but the
    state only moves if the runner still holds the item (claimed by it, and not final)."""
    final = state in BulkEditItem.FINAL_STATES
    counted = {"attempts": F("attempts") + 1} if attempted else {}
    moved = BulkEditItem.objects.filter(pk=item.pk, state__in=UNFINISHED_ITEM, runner_id=runner_id).update(
        state=state, finished_at=timezone.now() if final else None, started_at=item.started_at, **fields, **counted
    )
    if attempted and not moved:
        BulkEditItem.objects.filter(pk=item.pk).update(attempts=F("attempts") + 1)


def save_successes(outcomes: list[tuple[BulkEditItem, int | None, str, int | None]], runner_id: str) -> None:
    """Succeeded, for many items at once: (item, Kodexa's status code, note, the changeSequence it answered). Each
    attempt is counted; an item moves only if the runner still holds it (as `save_item`). Two statements however
    many items: the recorder writes a batch of outcomes so."""
    if not outcomes:
        return
    table, now = BulkEditItem._meta.db_table, connection.ops.adapt_datetimefield_value(timezone.now())
    BulkEditItem.objects.filter(pk__in=[item.pk for item, *_ in outcomes]).update(attempts=F("attempts") + 1)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET state = %s, finished_at = %s, started_at = %s, status_code = %s, "  # noqa: S608
            "message = %s, result_change_sequence = %s WHERE id = %s AND runner_id = %s AND state IN (%s, %s)",
            [
                (
                    BulkEditItem.State.SUCCEEDED,
                    now,
                    connection.ops.adapt_datetimefield_value(item.started_at),
                    status,
                    note,
                    sequence,
                    item.pk,
                    runner_id,
                    *UNFINISHED_ITEM,
                )
                for item, status, note, sequence in outcomes
            ],
        )
