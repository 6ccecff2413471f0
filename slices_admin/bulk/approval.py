"""A second pair of eyes for big edits (BULK_APPROVAL_THRESHOLD): a job over it waits, sending nothing, until another
operator or admin approves it (with the count of slices it changes now, typed) or rejects it (with a reason). Its
requester may withdraw it but never approve it; a request nobody answers expires. Each step is an audit entry."""

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext

from .jobs import changes_now, locked_job, record_job_event, release
from .models import BulkEditJob
from .selection import BulkEditError

SELF_APPROVAL = "You asked for this edit: another operator or admin approves it. You may withdraw it."


def approve(job: BulkEditJob, *, typed_count: int | None, context: AuditContext) -> BulkEditJob:
    """Approve with the number of slices the edit changes now, typed: its items are made then (or at its start
    time, if it is scheduled)."""
    with transaction.atomic():
        job = _awaiting(job, context)
        if context.actor is not None and job.created_by_id == context.actor.pk:
            raise BulkEditError({"__all__": SELF_APPROVAL})
        now_count = changes_now(job)
        if now_count == 0:
            raise BulkEditError({"__all__": "Nothing is left to change: reject it."})
        if typed_count != now_count:
            asked = f"{job.requested_count:,} when it was asked for" if job.requested_count is not None else ""
            raise BulkEditError(
                {"confirmCount": f"Type {now_count:,} (the slices it changes now; {asked}) to approve it."}
            )
        job.approved_by, job.approved_at, job.approved_count = context.actor, timezone.now(), now_count
        job.approval_expires_at = None
        job.save(update_fields=["approved_by", "approved_at", "approved_count", "approval_expires_at"])
        record_job_event(
            job, context.but(reason=""), AuditEntry.Action.BULK_APPROVE, requested=job.requested_count, now=now_count
        )
        if job.start_at is not None and job.start_at > timezone.now():
            job.state = BulkEditJob.State.SCHEDULED
            job.save(update_fields=["state"])
            return job
        return release(job, context=context)


def reject(job: BulkEditJob, *, reason: str, context: AuditContext) -> BulkEditJob:
    reason = reason.strip()
    if not reason:
        raise BulkEditError({"reason": "Say why it is rejected: the requester sees it, and the audit log keeps it."})
    with transaction.atomic():
        job = _awaiting(job, context)
        if context.actor is not None and job.created_by_id == context.actor.pk:
            raise BulkEditError({"__all__": "You asked for this edit: withdraw it rather than reject it."})
        return _close(job, BulkEditJob.State.REJECTED, reason[:2000], context, AuditEntry.Action.BULK_REJECT)


def withdraw(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    with transaction.atomic():
        job = _awaiting(job, context)
        if context.actor is None or job.created_by_id != context.actor.pk:
            raise BulkEditError({"__all__": "Only the person who asked for it may withdraw it; reject it instead."})
        return _close(job, BulkEditJob.State.WITHDRAWN, "Withdrawn by its requester.", context,
                      AuditEntry.Action.BULK_WITHDRAW)  # fmt: skip


def expire_requests(now: datetime | None = None) -> list[int]:
    """Close every request nobody answered in time (the sweep every worker runs)."""
    now = now or timezone.now()
    due = BulkEditJob.objects.filter(state=BulkEditJob.State.AWAITING_APPROVAL, approval_expires_at__lte=now)
    expired = []
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            job = locked_job(pk)
            if job.state == BulkEditJob.State.AWAITING_APPROVAL:
                _expire(job)
                expired.append(pk)
    return expired


def awaiting_others(user: AbstractBaseUser | AnonymousUser) -> int:
    """How many requests wait for someone other than `user` to answer them (the header's count)."""
    waiting = BulkEditJob.objects.filter(state=BulkEditJob.State.AWAITING_APPROVAL)
    return waiting.exclude(created_by_id=user.pk).count() if user.pk is not None else waiting.count()


def _awaiting(job: BulkEditJob, context: AuditContext) -> BulkEditJob:
    """The job's row, locked, if it still awaits an answer (an expired one is closed here)."""
    job = locked_job(job.pk)
    if (
        job.state == BulkEditJob.State.AWAITING_APPROVAL
        and job.approval_expires_at
        and (job.approval_expires_at <= timezone.now())
    ):
        _expire(job)
    if job.state != BulkEditJob.State.AWAITING_APPROVAL:
        what = job.get_state_display().lower()
        raise BulkEditError({"__all__": f"Bulk edit {job.pk} is {what}: it no longer awaits approval."})
    return job


def _expire(job: BulkEditJob) -> None:
    note = "Nobody approved it in time."
    _close(job, BulkEditJob.State.EXPIRED, note, AuditContext.system("approval expiry"), AuditEntry.Action.BULK_EXPIRE)


def _close(job: BulkEditJob, state: str, note: str, context: AuditContext, action: str) -> BulkEditJob:
    job.state, job.closed_note, job.closed_by, job.finished_at = state, note, context.actor, timezone.now()
    job.approval_expires_at = None if state != BulkEditJob.State.EXPIRED else job.approval_expires_at
    job.save(update_fields=["state", "closed_note", "closed_by", "finished_at", "approval_expires_at"])
    record_job_event(job, context.but(reason=note), action)
    return job
