"""A bulk edit is a job row plus one item row per slice: the ledger a worker works and a new worker resumes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from slices_admin.audit.models import slice_url


class BulkEditJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # What was selected: {"filter": "<the list's query string>"} or {"ids": [...]}; items hold the resolved slices.
    selection = models.JSONField()
    selection_label = models.CharField(max_length=500, blank=True)
    target_status = models.CharField(max_length=64)
    # None: leave each slice's errorMessage as it is; "" clears it; any other text sets it.
    error_message = models.TextField(null=True, blank=True)
    reason = models.TextField()
    concurrency = models.PositiveSmallIntegerField()
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups")
    follow_up_kind = models.CharField(max_length=16, blank=True)  # "retry" | "reapply"

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
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

    def __str__(self) -> str:
        return f"Bulk edit {self.pk}: → {self.target_status} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.FINISHED, self.State.CANCELLED)

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
