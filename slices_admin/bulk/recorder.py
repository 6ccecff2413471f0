"""Writing what an attempt at an item came to: the item's new state and exactly one audit entry (and, for a success,
the slice's cached row), in one transaction. Successes go through the recorder's own thread while the runner sends,
many to a transaction: their cached rows, their audit entries in one INSERT (`append_entries`) and their items in two
statements. On SQLite, where writes take turns, that thread also writes the marks the sending threads make before
each PUT, all that wait in one transaction and ahead of any outcome, so no thread waits behind a batch to send.

An outcome not yet written when the worker dies leaves its item in flight with its mark, so the next runner checks
Kodexa and records it then: nothing is lost, nothing is sent twice.
"""

import collections
import logging
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Unpack

from django.db import connection, transaction

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, PreparedEntry, append_entries, append_entry, prepare_entry
from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.cache import CacheWrite, prepare_cache_write

from . import ledger
from .decisions import FailureDecision
from .models import BulkEditItem

logger = logging.getLogger(__name__)


@dataclass
class _Success:
    """A success waiting for the recorder's thread: the cached row to update, the entry, and the item to move."""

    cache: CacheWrite
    entry: PreparedEntry
    item: BulkEditItem
    status: int | None
    note: str
    sequence: int | None


@dataclass
class _Mark:
    """A sending thread's request to mark its item in flight, and the answer it waits for."""

    item_id: int
    base: dict[str, Any]
    started_at: datetime | None
    done: threading.Event = field(default_factory=threading.Event)
    marked: int = 0
    error: Exception | None = None


class Recorder:
    """One runner's outcomes. Between `start` and `close`, successes are written from the recorder's own thread,
    many to a transaction, so the sending threads go on sending instead of queueing for the database; at other
    times, and for every other outcome, they are written at once by the thread that has them."""

    BATCH = 64

    def __init__(self, runner_id: str, writing: AbstractContextManager[object, None], *, group_marks: bool = False):
        self.runner_id = runner_id
        self._writing = writing  # held around every write on SQLite (one writer at a time)
        self._group_marks = group_marks
        self._wake = threading.Condition()
        self._marks: collections.deque[_Mark] = collections.deque()
        self._outcomes: collections.deque[_Success] = collections.deque()
        self._closing = False
        self._thread: threading.Thread | None = None

    # --- the outcomes ------------------------------------------------------------------------------------------------
    def save(
        self, item: BulkEditItem, state: str, *, attempted: bool = False, **fields: Unpack[ledger.ItemFields]
    ) -> None:
        """Move an item this runner holds (an outcome without an audit entry of its own: skipped, cancelled)."""
        ledger.save_item(item, state, self.runner_id, attempted=attempted, **fields)

    def succeeded(
        self,
        item: BulkEditItem,
        context: AuditContext,
        *,
        before: dict[str, Any] | None,
        body: dict[str, Any] | None,
        record: dict[str, Any],
        status: int | None,
        note: str = "",
        duration_ms: int | None = None,
    ) -> None:
        cache_write = prepare_cache_write(ORCHESTRATOR_SLICE, [record], changed=True)
        entry = prepare_entry(
            context,
            action=AuditEntry.Action.UPDATE,
            outcome=AuditEntry.Outcome.SUCCEEDED,
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

        success = _Success(cache_write, entry, item, status, note, record.get("changeSequence"))
        if self._thread is not None:
            with self._wake:
                self._outcomes.append(success)
                self._wake.notify()
        else:
            with self._writing, transaction.atomic():
                self._write_one(success)

    def _write_one(self, success: "_Success") -> None:
        success.cache.apply()
        append_entry(success.entry)
        self.save(
            success.item,
            BulkEditItem.State.SUCCEEDED,
            attempted=True,
            status_code=success.status,
            message=success.note,
            result_change_sequence=success.sequence,
        )

    def conflict(
        self,
        item: BulkEditItem,
        context: AuditContext,
        *,
        before: dict[str, Any] | None,
        body: dict[str, Any] | None,
        current: dict[str, Any] | None,
        exc: errors.KodexaError | None,
    ) -> None:
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
            action=AuditEntry.Action.UPDATE,
            outcome=AuditEntry.Outcome.CONFLICT,
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
            self.save(
                item,
                BulkEditItem.State.CONFLICT,
                attempted=True,
                status_code=exc.status if exc else None,
                message=message,
                current_status=(current or {}).get("status") or "",
                current_change_sequence=(current or {}).get("changeSequence"),
            )

    def failed(
        self,
        item: BulkEditItem,
        context: AuditContext,
        exc: errors.KodexaError,
        decision: FailureDecision,
        *,
        before: dict[str, Any] | None,
        body: dict[str, Any] | None,
    ) -> None:
        entry = prepare_entry(
            context,
            action=AuditEntry.Action.UPDATE,
            outcome=decision.outcome,
            resource=ORCHESTRATOR_SLICE.path,
            remote_id=item.slice_id,
            request_body=body,
            response_status=exc.status,
            response_body=exc.body,
            before=before,
            error=decision.message,
            duration_ms=exc.duration_ms,
        )
        fields: ledger.ItemFields = {
            "transient_failures": decision.failures,
            "status_code": exc.status,
            "message": decision.message,
        }
        if decision.state == BulkEditItem.State.PENDING:
            fields["sent_change_sequence"] = None if decision.forget_sent else item.sent_change_sequence
        with self._writing, transaction.atomic():
            append_entry(entry)
            self.save(item, decision.state, attempted=True, **fields)

    # --- marks before a PUT ------------------------------------------------------------------------------------------
    def mark_in_flight(self, item_id: int, base: dict[str, Any], started_at: datetime | None) -> int:
        """`ledger.mark_in_flight` for a sending thread, before its PUT leaves. Where writes take turns (SQLite) and
        the recorder's thread runs, the marks of all threads waiting go into one transaction, written before any
        more outcomes: a thread never waits behind a batch of other items' outcomes to send its own."""
        if not self._group_marks or self._thread is None:
            with self._writing:
                return ledger.mark_in_flight(item_id, base, started_at, self.runner_id)
        request = _Mark(item_id, base, started_at)
        with self._wake:
            self._marks.append(request)
            self._wake.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.marked

    def _mark(self, marks: list["_Mark"]) -> None:
        try:
            with self._writing, transaction.atomic():
                for mark in marks:
                    mark.marked = ledger.mark_in_flight(mark.item_id, mark.base, mark.started_at, self.runner_id)
        except Exception as exc:  # none of them is marked: each attempt fails as the console's failure
            for mark in marks:
                mark.error = exc
        finally:
            for mark in marks:
                mark.done.set()

    # --- the recorder's thread -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="bulk-recorder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then go back to writing at once (the sending threads have all stopped)."""
        if self._thread is None:
            return
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        """Marks first, all that wait in one transaction; then outcomes, up to BATCH to a transaction."""
        try:
            while True:
                with self._wake:
                    while not (self._marks or self._outcomes or self._closing):
                        self._wake.wait()
                    marks = list(self._marks)
                    self._marks.clear()
                    count = 0 if marks else min(self.BATCH, len(self._outcomes))
                    outcomes = [self._outcomes.popleft() for _ in range(count)]
                    if not (marks or outcomes):
                        return  # closing, and nothing is left
                if marks:
                    self._mark(marks)
                else:
                    self._write(outcomes)
        finally:
            connection.close()

    def _write(self, batch: list["_Success"]) -> None:
        """Every cached row first (one statement's run), then the audit entries (one INSERT), then the items (two
        statements): the audit log's append lock is taken after the rows, as the web's edits take it (row, then
        log), so a batch and an edit of the same slice cannot deadlock on PostgreSQL."""
        if not batch:
            return
        try:
            with self._writing, transaction.atomic():
                for write in CacheWrite.together(success.cache for success in batch):
                    write.apply()
                append_entries([success.entry for success in batch])
                outcomes = [(success.item, success.status, success.note, success.sequence) for success in batch]
                ledger.save_successes(outcomes, self.runner_id)
        except Exception:
            logger.exception("bulk: writing %d outcomes together failed; writing them one by one", len(batch))
            for success in batch:
                try:
                    with self._writing, transaction.atomic():
                        self._write_one(success)
                except Exception:
                    logger.exception("bulk: an outcome could not be written; the next runner checks its item")
