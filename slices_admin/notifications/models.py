"""One webhook message per bulk edit and event: the exact body sent on every try, and how its delivery goes."""

import uuid

from django.db import models
from django.db.models import Q

from slices_admin.bulk.models import BulkEditJob


class WebhookDelivery(models.Model):
    class Event(models.TextChoices):
        FINISHED = "finished", "Finished"  # every item succeeded or was skipped
        FAILED = "failed", "Failed"  # ended with failed or conflicting items, or cancelled
        PAUSED = "paused", "Paused by a Kodexa outage"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"  # its first try, or the next one after a failed try
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # tries used up, or refused for good

    job = models.ForeignKey(BulkEditJob, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=32, choices=Event.choices)
    # Sent as X-Slices-Delivery and in the body: the same on every try, so a receiver can drop a repeat.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    body = models.TextField()  # the JSON sent, exactly (the signature covers these bytes, UTF-8)
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)  # while pending
    # A worker is sending it until then: another worker's task for the same delivery leaves it alone.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_try_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # in the console's words: never the URL or the secret
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "event"], name="webhook_one_per_job_event")]
        indexes = [
            models.Index(fields=["next_try_at"], name="webhook_pending_due", condition=Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.event} of bulk edit {self.job_id}: {self.state} after {self.tries} tries"
