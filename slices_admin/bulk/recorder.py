"""Writing what an attempt at an item came to: the item's new state and exactly one audit entry (and, for a success,
the slice's cached row), in one transaction. Successes go through the recorder's own thread while the runner sends.

An outcome not yet written when the worker dies leaves its item in flight with its mark, so the next runner checks
Kodexa and records it then: nothing is lost, nothing is sent twice.
"""

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Unpack

from django.db import connection, transaction

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, append_entry, prepare_entry
from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.cache import prepare_cache_write

from . import ledger
from .decisions import FailureDecision
from .models import BulkEditItem

logger = logging.getLogger(__name__)

Write = tuple[Callable[[], None], Callable[[], None]]  # (update the cached row, append the entry and move the item)


class Recorder:
    """One runner's outcomes. Between `start` and `close`, successes are written from the recorder's own thread,
    many to a transaction, so the sending threads go on sending instead of queueing for the database; at other
    times, and for every other outcome, they are written at once by the thread that has them."""

    BATCH = 64

    def __init__(self, runner_id: str, writing: AbstractContextManager[object, None]):
        self.runner_id = runner_id
        self._writing = writing  # held around every write on SQLite (one writer at a time)
        self._queue: queue.SimpleQueue[Write | None] | None = None
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
        cache_write = prepare_cache_write(ORCHESTRATOR_SLICE, [record])
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

        def write_record() -> None:
            append_entry(entry)
            self.save(
                item,
                BulkEditItem.State.SUCCEEDED,
                attempted=True,
                status_code=status,
                message=note,
                result_change_sequence=record.get("changeSequence"),
            )

        if self._queue is not None:
            self._queue.put((cache_write.apply, write_record))
        else:
            with self._writing, transaction.atomic():
                cache_write.apply()
                write_record()

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

    # --- the recorder's thread -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(self._queue,), name="bulk-recorder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then go back to writing at once."""
        if self._queue is None or self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._queue = self._thread = None

    def _run(self, writes: queue.SimpleQueue[Write | None]) -> None:
        try:
            closing = False
            while not closing:
                batch = [writes.get()]
                while len(batch) < self.BATCH and not writes.empty():
                    batch.append(writes.get())
                closing = None in batch
                self._write([write for write in batch if write is not None])
        finally:
            connection.close()

    def _write(self, batch: list[Write]) -> None:
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
