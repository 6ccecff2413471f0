"""Creating a bulk edit job and its item ledger, cancelling it, and its follow-ups (retry the failures, re-apply the
conflicts). The work itself is done by runners (`runner.run_job`) in workers."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from slices_admin.audit.chain import lock_for_append
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE

from . import events
from .changes import Change, runners_for
from .ledger import finish_cancelled
from .models import BulkEditItem, BulkEditJob
from .preview import Preview, preview
from .selection import BulkEditError, Selection
from .tasks import enqueue_runners
from .undo import UndoPreview, undo_items, undo_preview


def create_job(
    selection: Selection,
    change: Change,
    *,
    context: AuditContext,
    confirmed_count: int | None = None,
    confirmed: bool = False,
    retry_of: BulkEditJob | None = None,
    follow_up_kind: str = "",
    expected: Mapping[str, int | None] | None = None,
    max_rate: float | Literal["default"] | None = "default",
    start_at: datetime | None = None,
) -> BulkEditJob:
    """Check the edit and create its job: queued with its items at once; or, above BULK_APPROVAL_THRESHOLD, waiting
    for approval; or scheduled for `start_at` (the items are made when it is released, from the selection then).
    Over the confirmation threshold, `confirmed_count` must equal the number of slices that will change now (so a
    selection that grew since the preview is caught)."""
    problems = change.errors()
    if problems:
        raise BulkEditError(problems)
    seen = preview(selection, change, details=False)
    if seen.total == 0:
        raise BulkEditError({"__all__": "No slice matches this selection any more; nothing to do."})
    if seen.too_many:
        raise BulkEditError({"__all__": seen.warnings[0]})
    if seen.needs_typed_confirmation and not confirmed:
        _check_typed(confirmed_count, seen.to_change)
    rate = settings.BULK_DEFAULT_RATE if max_rate == "default" else max_rate
    _check_rate_and_start(rate, start_at)
    return _create(
        context,
        to_change=seen.to_change,
        may_wait=not follow_up_kind,
        start_at=start_at,
        expected=expected,
        selection=selection.to_json(),
        selection_label=selection.describe()[:500],
        target_status=change.target_status,
        error_message=change.error_message,
        reason=change.reason.strip(),
        retry_of=retry_of,
        follow_up_kind=follow_up_kind,
        max_rate=rate,
    )


def request_undo(
    original: BulkEditJob,
    *,
    reason: str,
    context: AuditContext,
    confirmed_count: int | None = None,
    max_rate: float | Literal["default"] | None = "default",
    start_at: datetime | None = None,
) -> BulkEditJob:
    """An undo of `original` (see `undo.py`): a job like any other, from its own preview. One per edit: asking
    again points to the first."""
    reason = reason.strip()
    if not reason:
        raise BulkEditError({"reason": "Say why: the reason goes into every audit entry of the undo."})
    original = BulkEditJob.objects.get(pk=original.pk)  # as it is now, not as the caller last read it
    if len(reason) > 2000:
        raise BulkEditError({"reason": "Keep the reason under 2,000 characters."})
    if original.state not in (BulkEditJob.State.FINISHED, BulkEditJob.State.CANCELLED):
        raise BulkEditError({"__all__": f"Bulk edit {original.pk} is {original.get_state_display().lower()}: "
                             "an edit can be undone once it has ended."})  # fmt: skip
    if (earlier := existing_undo(original)) is not None:
        raise BulkEditError({"__all__": f"Bulk edit {original.pk} already has an undo: bulk edit {earlier.pk}."})
    seen = undo_preview(original)
    if not seen.to_change:
        raise BulkEditError({"__all__": f"Nothing of bulk edit {original.pk} can be put back: "
                             f"{seen.left_alone:,} slices changed since (or were never changed)."})  # fmt: skip
    if seen.to_change > settings.BULK_CONFIRM_THRESHOLD:
        _check_typed(confirmed_count, seen.to_change)
    rate = settings.BULK_DEFAULT_RATE if max_rate == "default" else max_rate
    _check_rate_and_start(rate, start_at)
    try:
        return _create(
            context,
            to_change=seen.to_change,
            may_wait=True,
            start_at=start_at,
            selection={"undoOf": original.pk},
            selection_label=f"The slices bulk edit {original.pk} changed"[:500],
            target_status="",
            error_message=None,
            reason=f"Undo of bulk edit {original.pk}: {reason}"[:2000],
            undo_of=original,
            max_rate=rate,
        )
    except IntegrityError as exc:  # another undo was made meanwhile (the one-undo constraint)
        earlier = existing_undo(original)
        raise BulkEditError({"__all__": f"Bulk edit {original.pk} already has an undo"
                             + (f": bulk edit {earlier.pk}." if earlier else ".")}) from exc  # fmt: skip


def locked_job(pk: int) -> BulkEditJob:
    """The job's row, locked for the rest of the transaction, for a change that writes an audit entry. The audit
    log's append lock is taken first: a runner's recorder holds it while its writes' references to the job row are
    checked at commit, so taking the row first could deadlock with it on PostgreSQL."""
    lock_for_append()
    return BulkEditJob.objects.select_for_update().get(pk=pk)


def existing_undo(original: BulkEditJob) -> BulkEditJob | None:
    return original.undos.exclude(state__in=BulkEditJob.NEVER_RAN).order_by("pk").first()


def preview_now(job: BulkEditJob, *, details: bool = False) -> Preview | UndoPreview:
    """What the job would do if its items were made now: an undo's preview, or its selection's (with `details`,
    the sample and warnings an approver reads too)."""
    if job.undo_of is not None:
        return undo_preview(job.undo_of)
    change = Change(job.target_status, job.error_message, job.reason)
    return preview(Selection.from_json(job.selection), change, user=job.created_by, details=details)


def changes_now(job: BulkEditJob) -> int:
    """How many slices the job would change if its items were made now (what an approver and a scheduled start
    compare with the count confirmed)."""
    return preview_now(job).to_change


def release(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    """Make a waiting job's items, from its selection as it is now, and queue it (inside the caller's transaction,
    which holds the job's row)."""
    return _queue(job, context, _items_for(job, None))


def _create(
    context: AuditContext,
    *,
    to_change: int,
    may_wait: bool,
    start_at: datetime | None,
    expected: Mapping[str, int | None] | None = None,
    **fields: Any,
) -> BulkEditJob:
    threshold = settings.BULK_APPROVAL_THRESHOLD
    needs_approval = may_wait and threshold is not None and to_change > threshold
    if needs_approval:
        state = BulkEditJob.State.AWAITING_APPROVAL
    elif start_at is not None:
        state = BulkEditJob.State.SCHEDULED
    else:
        state = BulkEditJob.State.QUEUED
    with transaction.atomic():
        job = BulkEditJob.objects.create(
            created_by=context.actor,
            concurrency=settings.BULK_CONCURRENCY,
            requested_count=to_change,
            start_at=start_at,
            state=state,
            approval_expires_at=_expiry() if needs_approval else None,
            **fields,
        )
        if state == BulkEditJob.State.QUEUED:
            return _queue(job, context, _items_for(job, expected))
        action = AuditEntry.Action.BULK_APPROVAL_REQUESTED if needs_approval else AuditEntry.Action.BULK_SCHEDULE
        record_job_event(job, context, action, toChange=to_change)
        if needs_approval:
            events.job_awaits_approval.send(BulkEditJob, job_id=job.pk)
    return job


def _queue(job: BulkEditJob, context: AuditContext, items: list[BulkEditItem]) -> BulkEditJob:
    BulkEditItem.objects.bulk_create(items, batch_size=2000)
    job.state = BulkEditJob.State.QUEUED
    job.save(update_fields=["state"])
    record_job_event(
        job,
        context,
        AuditEntry.Action.BULK_START,
        items=len(items),
        toChange=sum(1 for item in items if item.state == BulkEditItem.State.PENDING),
    )
    transaction.on_commit(lambda: enqueue_runners(job.pk, runners_for(job.concurrency)))
    return job


def record_job_event(job: BulkEditJob, context: AuditContext, action: str, **details: Any) -> None:
    """One audit entry for something that happened to the job as a whole (its reason and what it changes)."""
    body: dict[str, Any] = {"selection": job.selection, "targetStatus": job.target_status or None}
    if job.undo_of_id:
        body["undoOf"] = job.undo_of_id
    else:
        body["errorMessage"] = job.error_message
    record_attempt(
        context.but(bulk_job_id=job.pk, reason=context.reason or job.reason),
        action=action,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        resource=ORCHESTRATOR_SLICE.path,
        request_body={**body, **details},
    )


def _check_typed(typed: int | None, to_change: int) -> None:
    if typed == to_change:
        return
    raise BulkEditError(
        {
            "confirmCount": f"Type {to_change:,} (the number of slices that will change) to confirm."
            if typed is None
            else f"The selection now changes {to_change:,} slices, not {typed:,}: review the preview again."
        }
    )


def _check_rate_and_start(rate: float | None, start_at: datetime | None) -> None:
    problems = {}
    if rate is not None and not (0 < rate <= settings.BULK_MAX_RATE):
        problems["maxRate"] = f"Give a rate from 0.1 to {settings.BULK_MAX_RATE:g} requests a second, or none."
    if start_at is not None:
        now = timezone.now()
        if start_at <= now:
            problems["startAt"] = "Choose a time in the future (or start it now)."
        elif start_at > now + timedelta(days=settings.BULK_SCHEDULE_MAX_DAYS):
            problems["startAt"] = f"Schedule it at most {settings.BULK_SCHEDULE_MAX_DAYS} days ahead."
    if problems:
        raise BulkEditError(problems)


def _expiry() -> datetime:
    return timezone.now() + timedelta(hours=settings.BULK_APPROVAL_EXPIRES_HOURS)


def _items_for(job: BulkEditJob, expected: Mapping[str, int | None] | None) -> list[BulkEditItem]:
    if job.undo_of is not None:
        return undo_items(job.undo_of, job)
    change = Change(job.target_status, job.error_message, job.reason)
    return _items(job, Selection.from_json(job.selection), change, expected)


def _items(
    job: BulkEditJob, selection: Selection, change: Change, expected: Mapping[str, int | None] | None
) -> list[BulkEditItem]:
    cached = {
        row["id"]: row
        for row in selection.queryset().values("id", "status", "error_message", "change_sequence").iterator(2000)
    }
    ids = list(cached) if selection.filter is not None else list(selection.ids)
    items = []
    for slice_id in ids:
        row = cached.get(slice_id)
        item = BulkEditItem(job=job, slice_id=slice_id)
        if row is not None:
            item.before_status = row["status"] or ""
            item.expected_change_sequence = row["change_sequence"]
        if expected is not None and slice_id in expected:
            item.expected_change_sequence = expected[slice_id]
        if row is not None and expected is None and change.already_applied(row["status"], row["error_message"]):
            item.state, item.finished_at = BulkEditItem.State.SKIPPED, timezone.now()
            item.message = f"Already {row['status']}: nothing to change."
        items.append(item)
    return items


def cancel_job(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    """Stop sending: the runner finishes the requests already out and marks everything not yet sent cancelled.
    A job no runner is working (queued, paused, scheduled) is cancelled here and now; one awaiting approval is
    withdrawn or rejected instead."""
    with transaction.atomic():
        job = locked_job(job.pk)
        if job.finished or job.cancel_requested_at:
            return job
        if job.state == BulkEditJob.State.AWAITING_APPROVAL:
            raise BulkEditError({"__all__": f"Bulk edit {job.pk} awaits approval: its requester withdraws it, "
                                 "anyone else rejects it."})  # fmt: skip
        now = timezone.now()
        job.cancel_requested_at, job.cancelled_by = now, context.actor
        job.save(update_fields=["cancel_requested_at", "cancelled_by"])
        record_job_event(job, context.but(reason=""), AuditEntry.Action.BULK_CANCEL)
        if job.state == BulkEditJob.State.SCHEDULED:  # no items yet
            BulkEditJob.objects.filter(pk=job.pk).update(state=BulkEditJob.State.CANCELLED, finished_at=now)
        elif job.state == BulkEditJob.State.PAUSED:  # a runner closes it if an item's fate needs checking
            BulkEditJob.objects.filter(pk=job.pk).update(state=BulkEditJob.State.QUEUED, paused_at=None)
            job.state = BulkEditJob.State.QUEUED
    if job.state == BulkEditJob.State.QUEUED and not finish_cancelled(job):
        enqueue_runners(job.pk, 1)  # the items whose earlier PUT's fate is unknown are checked on Kodexa first
    job.refresh_from_db()
    return job


def follow_up(job: BulkEditJob, kind: str, *, context: AuditContext) -> BulkEditJob:
    """A new job for just the failed items ("retry"), or for the conflicts on Kodexa's current version
    ("reapply": the operator has seen what changed and chooses to set the status on top of it). The button that
    asks is the confirmation; asking twice while the first follow-up runs is refused."""
    with transaction.atomic():  # one follow-up at a time: the check and the creation are one write
        job = locked_job(job.pk)
        state = {"retry": BulkEditItem.State.FAILED, "reapply": BulkEditItem.State.CONFLICT}[kind]
        running = job.follow_ups.filter(follow_up_kind=kind).exclude(state__in=BulkEditJob.ENDED).first()
        if running is not None:
            raise BulkEditError({"__all__": f"Bulk edit {running.pk} is already doing this; wait for it to finish."})
        items = list(job.items.filter(state=state).values("slice_id", "current_change_sequence"))
        if not items:
            raise BulkEditError({"__all__": f"Job {job.pk} has no {state} items."})
        verb = "Retry of the failures" if kind == "retry" else "Re-applied on the current version of the conflicts"
        reason = f"{verb} of job {job.pk}: {job.reason}"[:2000]
        if not job.target_status:  # an undo's: each item puts back a status of its own
            return _follow_up_of_undo(job, kind, state, reason, context)
        expected = {i["slice_id"]: i["current_change_sequence"] for i in items} if kind == "reapply" else None
        change = Change(job.target_status, job.error_message, reason)
        selection = Selection.from_ids([i["slice_id"] for i in items])
        return create_job(
            selection,
            change,
            context=context,
            confirmed=True,
            retry_of=job,
            follow_up_kind=kind,
            expected=expected,
        )


def _follow_up_of_undo(job: BulkEditJob, kind: str, state: str, reason: str, context: AuditContext) -> BulkEditJob:
    """A retry keeps each item's guard (the version the undone edit wrote); a re-apply puts the status back on top
    of Kodexa's current version, as the person chose."""
    rows = list(job.items.filter(state=state).order_by("id"))
    new = BulkEditJob.objects.create(
        created_by=context.actor,
        concurrency=settings.BULK_CONCURRENCY,
        requested_count=len(rows),
        selection={"ids": [row.slice_id for row in rows]},
        selection_label=f"{len(rows)} {state} slice{'s' if len(rows) != 1 else ''} of bulk edit {job.pk}"[:500],
        target_status="",
        error_message=None,
        reason=reason,
        retry_of=job,
        follow_up_kind=kind,
        max_rate=job.max_rate,
    )
    items = [
        BulkEditItem(
            job=new,
            slice_id=row.slice_id,
            before_status=row.current_status or row.before_status,
            target_status=row.target_status,
            target_error_message=row.target_error_message,
            expected_change_sequence=row.current_change_sequence if kind == "reapply" else row.expected_change_sequence,
        )
        for row in rows
    ]
    return _queue(new, context, items)
