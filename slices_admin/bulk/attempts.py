"""One attempt at one item: read the slice when its version must be checked, send the PUT, and hand the outcome to
the recorder; a failure comes to what `decide_failure` says. It runs in the runner's sending threads.

No item is applied twice. Each PUT carries a `changeSequence`, so Kodexa's optimistic lock refuses a second copy;
and before a PUT leaves, the item records the version it was sent against (`sent_change_sequence`: written for a
claimed batch at once when the PUT is built from the cached record, see `marks`, or by the sending thread). An attempt
whose outcome was lost (a timeout, a 5xx, a worker killed mid-request) leaves that mark, and the next attempt reads
the slice first: already changed as we asked means succeeded, untouched means send again, anything else is a
conflict for a person to look at.
"""

import logging
import random
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from slices_admin.audit.services import AuditContext
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.cache import cache_records
from slices_admin.slices.services import explain_unknown_field_refusal, replacement_body, same_record

from . import ledger
from .changes import Change
from .decisions import FailureKind, Limits, decide_failure
from .marks import MarksAhead
from .models import BulkEditItem, BulkEditJob
from .pauses import Pauses
from .recorder import Recorder
from .throttle import Throttle

logger = logging.getLogger(__name__)

LOST_ANSWER = "An earlier attempt was applied; its answer had been lost."


@dataclass
class Attempt:
    """What one attempt at an item came to: a final state, or another try after `retry_in` seconds."""

    retry_in: float | None = None


def applied(current: Mapping[str, Any], body: Mapping[str, Any], sent: int | None) -> bool:
    """Whether Kodexa's record holds the change, made after the version it was sent against."""
    version = current.get("changeSequence")
    moved_on = sent is None or (isinstance(version, int) and version > sent)
    return moved_on and same_record(ORCHESTRATOR_SLICE, current, body)


class Sender:
    """Attempts items of one job for one runner, over the runner's client, pause and recorder."""

    def __init__(
        self,
        job: BulkEditJob,
        runner_id: str,
        *,
        client: KodexaClient,
        pauses: Pauses,
        throttle: Throttle,
        recorder: Recorder,
        marks: MarksAhead,
        writing: AbstractContextManager[object, None],
        stop: threading.Event,
    ):
        self.job = job
        self.runner_id = runner_id
        self.change = Change(job.target_status, job.error_message, job.reason)
        self.client = client
        self.context = AuditContext(actor=job.created_by, bulk_job_id=job.pk, reason=job.reason, actor_name="bulk edit")
        self.pauses = pauses
        self.throttle = throttle
        self.recorder = recorder
        self.marks = marks
        self._writing = writing
        self.stop = stop  # cancelled, or the runner was given up for dead

    def attempt(self, item: BulkEditItem, cached: dict[str, Any] | None) -> Attempt:
        """Try the item once; `cached` is the slice's cached record (None if the cache does not hold it)."""
        if item.final:
            return Attempt()
        if item.started_at is None:
            item.started_at = timezone.now()
        context = self._context(item)
        try:
            base = self._base(item, context, cached)
        except errors.KodexaError as exc:
            return self._failed(item, context, exc, before=None, body=None)
        if base is None:  # decided without sending: a conflict or a skip
            return Attempt()
        change = self.change_for(item)
        if change.already_applied(base.get("status"), base.get("errorMessage")):
            message = f"Already {base.get('status')} on Kodexa: nothing to change."
            self.recorder.save(item, BulkEditItem.State.SKIPPED, message=message)
            return Attempt()
        body = replacement_body(base, change.applied_to({}))
        sent = base.get("changeSequence")
        if self.stop.is_set() or not self._may_send():
            return Attempt(retry_in=0)  # cancelled, paused (or taken over) while getting ready: nothing sent
        marked_ahead = self.marks.take(item.pk)
        if not (marked_ahead and base is cached):
            marked = self.recorder.mark_in_flight(item.pk, base, item.started_at)
            if not marked:
                return Attempt()  # no longer this runner's (cancelled, or taken back as this runner was thought dead)
        item.state, item.sent_change_sequence = BulkEditItem.State.IN_FLIGHT, sent
        try:
            answer = self.client.replace(ORCHESTRATOR_SLICE, item.slice_id, body, request_id=context.request_id)
        except errors.KodexaConflict as exc:
            current = self._read(item, context)
            if current is not None and applied(current, body, sent):
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

    def sends_cached(self, item: BulkEditItem, cached: dict[str, Any] | None) -> bool:
        """Whether the item's first attempt will send a PUT built from its cached record (so it may be marked in
        flight with that record as soon as it is claimed)."""
        return (
            not settings.BULK_READ_BEFORE_WRITE
            and not item.final
            and item.sent_change_sequence is None
            and cached is not None
            and item.expected_change_sequence is not None
            and cached.get("changeSequence") == item.expected_change_sequence
            and not self.change_for(item).already_applied(cached.get("status"), cached.get("errorMessage"))
        )

    def check_before_cancelling(self, item: BulkEditItem) -> None:
        """An item of a cancelled job whose earlier PUT's fate is unknown: applied on Kodexa means succeeded;
        otherwise it ends cancelled."""
        context = self._context(item)
        cached = ledger.cached_records([item.slice_id]).get(item.slice_id)
        try:
            current = self._get(item, context, fallback=cached)
        except errors.KodexaError as exc:
            self.recorder.save(item, BulkEditItem.State.FAILED, message=(
                f"Cancelled, but whether an earlier attempt was applied could not be checked ({exc.message}). "
                "Refresh the slice to see."
            ))  # fmt: skip
            return
        if applied(current, self.change_for(item).applied_to(current), item.sent_change_sequence):
            self._succeeded(item, context, before=cached, body=None, record=current, status=200, note=LOST_ANSWER)
        else:
            message = "Cancelled; Kodexa shows the earlier attempt was not applied."
            self.recorder.save(item, BulkEditItem.State.CANCELLED, message=message)

    def crashed(self, item_id: int, exc: Exception) -> Attempt:
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

    def change_for(self, item: BulkEditItem) -> Change:
        """What this item is to become: the job's change, or (an undo's item) the status it had before."""
        if item.target_status:
            return Change(item.target_status, item.target_error_message, self.change.reason)
        return self.change

    def _may_send(self) -> bool:
        """Wait out a pause, then for a send slot at the job's rate; False when the runner stopped meanwhile."""
        return self.pauses.wait() and self.throttle.wait()

    # --- reading Kodexa ----------------------------------------------------------------------------------------------
    def _context(self, item: BulkEditItem) -> AuditContext:
        return self.context.but(request_id=f"bulk-{self.job.pk}-{item.pk}-{item.attempts + 1}")

    def _base(self, item: BulkEditItem, context: AuditContext, cached: dict[str, Any] | None) -> dict[str, Any] | None:
        """The version to change: Kodexa's current one, or the cached one the operator selected. None when the
        attempt ended here (the slice changed since it was selected, or an earlier attempt turns out applied)."""
        if item.sent_change_sequence is not None:  # an earlier PUT's fate is unknown: look before sending again
            current = self._get(item, context, fallback=cached)
            if applied(current, self.change_for(item).applied_to(current), item.sent_change_sequence):
                self._succeeded(item, context, before=None, body=None, record=current, status=200, note=LOST_ANSWER)
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

    def _get(self, item: BulkEditItem, context: AuditContext, fallback: dict[str, Any] | None = None) -> dict[str, Any]:
        """Kodexa's current record (cached on the way); the cached copy where Kodexa offers no read."""
        self._may_send()
        try:
            answer = self.client.get(ORCHESTRATOR_SLICE, item.slice_id, request_id=context.request_id)
        except errors.KodexaNotSupported:
            if fallback is not None:
                return fallback
            raise
        record = cast(dict[str, Any], answer.body)  # a slice's record: Kodexa answers a read with a JSON object
        with self._writing, transaction.atomic():
            cache_records(ORCHESTRATOR_SLICE, [record])
        return record

    def _read(self, item: BulkEditItem, context: AuditContext) -> dict[str, Any] | None:
        try:
            return self._get(item, context)
        except errors.KodexaError:
            return None

    # --- outcomes (each writes the item and exactly one audit entry) -----------------------------------------------
    def _succeeded(
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
    ) -> Attempt:
        self.pauses.kodexa_answered()
        self.recorder.succeeded(
            item, context, before=before, body=body, record=record, status=status, note=note, duration_ms=duration_ms
        )
        return Attempt()

    def _conflict(
        self,
        item: BulkEditItem,
        context: AuditContext,
        *,
        before: dict[str, Any] | None,
        body: dict[str, Any] | None,
        current: dict[str, Any] | None,
        exc: errors.KodexaError | None,
    ) -> Attempt:
        self.pauses.kodexa_answered()
        self.recorder.conflict(item, context, before=before, body=body, current=current, exc=exc)
        return Attempt()

    def _failed(
        self,
        item: BulkEditItem,
        context: AuditContext,
        exc: errors.KodexaError,
        *,
        before: dict[str, Any] | None,
        body: dict[str, Any] | None,
        console_failed: bool = False,
    ) -> Attempt:
        kind = FailureKind.of(exc)
        if console_failed:
            outage = False  # the console's failure says nothing about Kodexa
        elif kind is FailureKind.UNAVAILABLE:
            outage = self.pauses.kodexa_failed(exc)  # not this slice's failure either: it is not counted against it
        else:
            outage = False
            self.pauses.kodexa_answered()
        explain_unknown_field_refusal(exc, body)
        decision = decide_failure(
            exc,
            failures_before=item.transient_failures,
            outage=outage,
            answered_put=body is not None,
            limits=Limits.from_settings(),
        )
        if decision.pause is not None:
            self.pauses.pause(*decision.pause)
        self.recorder.failed(item, context, exc, decision, before=before, body=body)
        if decision.retry_within is None:
            return Attempt()
        return Attempt(retry_in=random.uniform(0, decision.retry_within))
