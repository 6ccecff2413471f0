"""A person's hold on a job after it left the preview: pause and resume it, change its rate, start a scheduled one
now. And the sweep's part: start the scheduled jobs whose time has come, unless their selection drifted."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext

from . import ledger
from .changes import runners_for
from .jobs import changes_now, locked_job, record_job_event, release
from .models import BulkEditJob
from .selection import BulkEditError
from .tasks import enqueue_runners


def pause_job(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    """Its runners send nothing new within a second, record what is in flight and leave; it stays paused (through
    worker restarts too) until someone resumes it."""
    with transaction.atomic():
        job = locked_job(job.pk)
        if job.state not in ledger.UNFINISHED_JOB or job.cancel_requested_at:
            raise BulkEditError({"__all__": f"Bulk edit {job.pk} is {_state(job)}: only a queued or running job "
                                 "can be paused."})  # fmt: skip
        job.state, job.paused_at, job.paused_by = BulkEditJob.State.PAUSED, timezone.now(), context.actor
        job.save(update_fields=["state", "paused_at", "paused_by"])
        record_job_event(job, context.but(reason=""), AuditEntry.Action.BULK_PAUSE)
    return job


def resume_job(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    with transaction.atomic():
        job = locked_job(job.pk)
        if job.state != BulkEditJob.State.PAUSED:
            raise BulkEditError({"__all__": f"Bulk edit {job.pk} is {_state(job)}, not paused."})
        job.state, job.paused_at, job.paused_by = BulkEditJob.State.QUEUED, None, None
        job.runners_queued_at = timezone.now()  # the sweep leaves it to the runners queued here
        job.save(update_fields=["state", "paused_at", "paused_by", "runners_queued_at"])
        record_job_event(job, context.but(reason=""), AuditEntry.Action.BULK_RESUME)
        transaction.on_commit(lambda: enqueue_runners(job.pk, runners_for(job.concurrency)))
    return job


def set_rate(job: BulkEditJob, rate: float | None, *, context: AuditContext) -> BulkEditJob:
    """A new maximum rate (None: none) for a job that has not ended; its runners take it within a second."""
    if rate is not None and not (0 < rate <= settings.BULK_MAX_RATE):
        raise BulkEditError(
            {"maxRate": f"Give a rate from 0.1 to {settings.BULK_MAX_RATE:g} requests a second, or none."}
        )
    with transaction.atomic():
        job = locked_job(job.pk)
        if job.finished:
            raise BulkEditError({"__all__": f"Bulk edit {job.pk} is {_state(job)}: its rate no longer matters."})
        before, job.max_rate = job.max_rate, rate
        job.save(update_fields=["max_rate"])
        record_job_event(job, context.but(reason=""), AuditEntry.Action.BULK_RATE, maxRateBefore=before, maxRate=rate)
    return job


def start_now(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    """Start a scheduled job before its time (its selection counted again, as at its time)."""
    with transaction.atomic():
        job = locked_job(job.pk)
        if job.state != BulkEditJob.State.SCHEDULED:
            raise BulkEditError({"__all__": f"Bulk edit {job.pk} is {_state(job)}, not scheduled."})
        refusal = drift_refusal(job)
        if refusal:
            raise BulkEditError({"__all__": refusal + " Cancel it and preview the edit again."})
        record_job_event(job, context.but(reason=""), AuditEntry.Action.BULK_RELEASE, startAt=job.start_at)
        return release(job, context=context)


def release_due_jobs() -> list[int]:
    """Start every scheduled job whose time has come (the sweep every worker runs), or refuse it if its selection
    now changes more than BULK_SCHEDULE_DRIFT_PERCENT more or fewer slices than were confirmed."""
    due = BulkEditJob.objects.filter(state=BulkEditJob.State.SCHEDULED, start_at__lte=timezone.now())
    started = []
    for pk in due.order_by("start_at").values_list("pk", flat=True):
        with transaction.atomic():
            job = locked_job(pk)
            if job.state != BulkEditJob.State.SCHEDULED:
                continue  # another worker's sweep took it
            context = AuditContext.system("schedule")
            refusal = drift_refusal(job)
            if refusal:
                job.state, job.closed_note, job.finished_at = BulkEditJob.State.NOT_STARTED, refusal, timezone.now()
                job.save(update_fields=["state", "closed_note", "finished_at"])
                record_job_event(job, context.but(reason=refusal), AuditEntry.Action.BULK_NOT_STARTED)
                continue
            record_job_event(job, context, AuditEntry.Action.BULK_RELEASE, startAt=job.start_at)
            release(job, context=context)
            started.append(pk)
    return started


def drift_refusal(job: BulkEditJob) -> str:
    """Why the job may not start now ("" if it may): its selection drifted too far from the count confirmed."""
    confirmed = job.confirmed_count
    if confirmed is None:
        return ""
    now = changes_now(job)
    drift = abs(now - confirmed) * 100 / max(confirmed, 1)
    if now and drift <= settings.BULK_SCHEDULE_DRIFT_PERCENT:
        return ""
    return (
        f"Not started: the selection now changes {now:,} slices, not the {confirmed:,} confirmed ({drift:.0f}% "
        f"apart; at most {settings.BULK_SCHEDULE_DRIFT_PERCENT:g}% is allowed)."
    )


def _state(job: BulkEditJob) -> str:
    return job.get_state_display().lower()
