"""Creating a bulk edit job and its item ledger, cancelling it, and its follow-ups (retry the failures, re-apply the
conflicts). The work itself is done by runners (`runner.run_job`) in workers."""

from collections.abc import Mapping

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE

from .changes import Change, runners_for
from .ledger import finish_cancelled
from .models import BulkEditItem, BulkEditJob
from .preview import preview
from .selection import BulkEditError, Selection
from .tasks import enqueue_runners


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
) -> BulkEditJob:
    """Resolve the selection into items and queue the job. Over the threshold, `confirmed_count` must equal the
    number of slices that will change now (so a selection that grew since the preview is caught)."""
    problems = change.errors()
    if problems:
        raise BulkEditError(problems)
    seen = preview(selection, change, details=False)
    if seen.total == 0:
        raise BulkEditError({"__all__": "No slice matches this selection any more; nothing to do."})
    if seen.too_many:
        raise BulkEditError({"__all__": seen.warnings[0]})
    if seen.needs_typed_confirmation and not confirmed and confirmed_count != seen.to_change:
        raise BulkEditError(
            {
                "confirmCount": f"Type {seen.to_change:,} (the number of slices that will change) to confirm."
                if confirmed_count is None
                else f"The selection now changes {seen.to_change:,} slices, not {confirmed_count:,}: "
                "review the preview again."
            }
        )
    with transaction.atomic():
        job = BulkEditJob.objects.create(
            created_by=context.actor,
            selection=selection.to_json(),
            selection_label=selection.describe()[:500],
            target_status=change.target_status,
            error_message=change.error_message,
            reason=change.reason.strip(),
            concurrency=settings.BULK_CONCURRENCY,
            retry_of=retry_of,
            follow_up_kind=follow_up_kind,
        )
        items = _items(job, selection, change, expected)
        BulkEditItem.objects.bulk_create(items, batch_size=2000)
        record_attempt(
            context.but(bulk_job_id=job.pk, reason=job.reason),
            action=AuditEntry.Action.BULK_START,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            resource=ORCHESTRATOR_SLICE.path,
            request_body={
                "selection": job.selection,
                "targetStatus": job.target_status,
                "errorMessage": job.error_message,
                "items": len(items),
                "toChange": sum(1 for item in items if item.state == BulkEditItem.State.PENDING),
            },
        )
        transaction.on_commit(lambda: enqueue_runners(job.pk, runners_for(job.concurrency)))
    return job


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
    A job no runner has started is cancelled here and now."""
    with transaction.atomic():
        job = BulkEditJob.objects.select_for_update().get(pk=job.pk)
        if job.finished or job.cancel_requested_at:
            return job
        job.cancel_requested_at, job.cancelled_by = timezone.now(), context.actor
        job.save(update_fields=["cancel_requested_at", "cancelled_by"])
        record_attempt(
            context.but(bulk_job_id=job.pk, reason=job.reason),
            action=AuditEntry.Action.BULK_CANCEL,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            resource=ORCHESTRATOR_SLICE.path,
        )
    if job.state == BulkEditJob.State.QUEUED:
        finish_cancelled(job)
        job.refresh_from_db()
    return job


def follow_up(job: BulkEditJob, kind: str, *, context: AuditContext) -> BulkEditJob:
    """A new job for just the failed items ("retry"), or for the conflicts on Kodexa's current version
    ("reapply": the operator has seen what changed and chooses to set the status on top of it). The button that
    asks is the confirmation; asking twice while the first follow-up runs is refused."""
    with transaction.atomic():  # one follow-up at a time: the check and the creation are one write
        job = BulkEditJob.objects.select_for_update().get(pk=job.pk)
        state = {"retry": BulkEditItem.State.FAILED, "reapply": BulkEditItem.State.CONFLICT}[kind]
        running = (
            job.follow_ups.filter(follow_up_kind=kind)
            .exclude(state__in=[BulkEditJob.State.FINISHED, BulkEditJob.State.CANCELLED])
            .first()
        )
        if running is not None:
            raise BulkEditError({"__all__": f"Bulk edit {running.pk} is already doing this; wait for it to finish."})
        items = list(job.items.filter(state=state).values("slice_id", "current_change_sequence"))
        if not items:
            raise BulkEditError({"__all__": f"Job {job.pk} has no {state} items."})
        expected = {i["slice_id"]: i["current_change_sequence"] for i in items} if kind == "reapply" else None
        verb = "Retry of the failures" if kind == "retry" else "Re-applied on the current version of the conflicts"
        change = Change(job.target_status, job.error_message, f"{verb} of job {job.pk}: {job.reason}"[:2000])
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
