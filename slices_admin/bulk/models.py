"""A bulk edit is a job row plus one item row per slice: the ledger a worker works and a new worker resumes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from slices_admin.audit.models import slice_url


class BulkEditJob(models.Model):
    class State(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"
        NOT_STARTED = "not_started", "Not started"

    # Ended without sending anything: refused, withdrawn, expired, or its selection drifted before a scheduled start.
    NEVER_RAN = (State.REJECTED, State.WITHDRAWN, State.EXPIRED, State.NOT_STARTED)
    ENDED = (State.FINISHED, State.CANCELLED, *NEVER_RAN)
    # Items are made when the job is released (approved, or its time came): the selection is counted again then.
    WAITING = (State.AWAITING_APPROVAL, State.SCHEDULED)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # What was selected: {"filter": "<the list's query string>"} or {"ids": [...]}; items hold the resolved slices.
    selection = models.JSONField()
    selection_label = models.CharField(max_length=500, blank=True)
    target_status = models.CharField(max_length=64)  # "" for an undo: each item carries its own
    # None: leave each slice's errorMessage as it is; "" clears it; any other text sets it.
    error_message = models.TextField(null=True, blank=True)
    reason = models.TextField()
    concurrency = models.PositiveSmallIntegerField()
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups")
    follow_up_kind = models.CharField(max_length=16, blank=True)  # "retry" | "reapply"
    # An undo puts the slices this job changed back; see `undo.py`. One undo per job (one that never ran aside).
    undo_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="undos")
    requested_count = models.PositiveIntegerField(null=True, blank=True)  # slices to change, confirmed at request
    approved_count = models.PositiveIntegerField(null=True, blank=True)  # ... and as the approver confirmed them

    # A second pair of eyes (BULK_APPROVAL_THRESHOLD): who said yes, or who ended the request and why.
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    closed_note = models.TextField(blank=True)  # why it never ran: the rejection's reason, expiry, drift

    start_at = models.DateTimeField(null=True, blank=True)  # scheduled: released by the sweep at this time
    max_rate = models.FloatField(null=True, blank=True)  # requests per second to Kodexa, for the job as a whole
    rate_next_slot = models.DateTimeField(null=True, blank=True)  # the next free send slot (database clock)
    paused_at = models.DateTimeField(null=True, blank=True)  # paused by a person (state PAUSED)
    paused_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # When the sweep last queued runners for it: it queues no more for BULK_STALE_AFTER_SECONDS while they wait for
    # a worker. Whether it is being worked is its runners' heartbeats alone (BulkEditRunner).
    runners_queued_at = models.DateTimeField(null=True, blank=True)
    resumed_count = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)  # Kodexa said 429: the whole job waits
    pause_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "runners_queued_at"], name="bulkjob_state_queued")]
        constraints = [
            models.UniqueConstraint(
                fields=["undo_of"],
                condition=Q(undo_of__isnull=False)
                & ~Q(state__in=["rejected", "withdrawn", "expired", "not_started"]),  # NEVER_RAN
                name="bulkjob_one_undo",
                violation_error_message="This edit already has an undo.",
            )
        ]

    def __str__(self) -> str:
        return f"Bulk edit {self.pk}: → {self.target_status or 'as before'} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in self.ENDED

    @property
    def waiting(self) -> bool:
        return self.state in self.WAITING

    @property
    def confirmed_count(self) -> int | None:
        return self.approved_count if self.approved_count is not None else self.requested_count

    @property
    def is_paused(self) -> bool:
        return not self.finished and self.paused_until is not None and self.paused_until > timezone.now()


class BulkEditRunner(models.Model):
    """A worker process working a job. Several may work one job at once, each on the items it claimed; a runner
    whose heartbeat goes stale is dead, and its items go back to whoever works the job next. These heartbeats are
    the only record of a job being worked."""

    job = models.ForeignKey(BulkEditJob, on_delete=models.CASCADE, related_name="runners")
    runner_id = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.runner_id} on job {self.job_id}"


class BulkEditItem(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CONFLICT = "conflict", "Conflict"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CONFLICT, State.SKIPPED, State.CANCELLED)

    job = models.ForeignKey(BulkEditJob, on_delete=models.CASCADE, related_name="items")
    slice_id = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # The version the operator selected (the cache's changeSequence then): a different one on Kodexa is a conflict.
    expected_change_sequence = models.BigIntegerField(null=True, blank=True)
    before_status = models.CharField(max_length=64, blank=True)
    # The errorMessage of the version a PUT was sent against ("" none; null unknown): what an undo puts back.
    before_error_message = models.TextField(null=True, blank=True)
    # An undo's items each put their own status back ("" means the job's target_status); the error message as the
    # job's: None leaves it, "" clears it.
    target_status = models.CharField(max_length=64, blank=True)
    target_error_message = models.TextField(null=True, blank=True)
    # Set just before a PUT leaves: if the outcome is lost (timeout, crash), the next attempt checks Kodexa first.
    sent_change_sequence = models.BigIntegerField(null=True, blank=True)
    runner_id = models.CharField(max_length=64, blank=True)  # the runner that claimed it (and sent it)
    result_change_sequence = models.BigIntegerField(null=True, blank=True)
    current_status = models.CharField(max_length=64, blank=True)  # Kodexa's, when the item ended in conflict
    current_change_sequence = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # one audit entry each
    transient_failures = models.PositiveIntegerField(default=0)
    status_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "slice_id"], name="bulkitem_one_per_slice")]
        indexes = [
            models.Index(fields=["job", "state", "id"], name="bulkitem_job_state"),
            models.Index(
                fields=["job", "finished_at"], name="bulkitem_job_finished", condition=Q(finished_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slice_id} in job {self.job_id}: {self.state}"

    @property
    def final(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def slice_url(self) -> str:
        return slice_url("orchestrator", self.slice_id)

    def after_status(self, job: BulkEditJob) -> str:
        """The status this item sets (an undo's own, or the job's)."""
        return self.target_status or job.target_status
