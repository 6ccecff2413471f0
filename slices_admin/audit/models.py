"""The audit entry. Rows are written once and never updated or deleted by the application."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE, RESOURCES


class AuditEntryQuerySet(models.QuerySet):
    """No bulk rewriting or removal either (the database triggers refuse it too)."""

    def update(self, **kwargs):
        raise PermissionError("Audit entries are append-only.")

    def delete(self):
        raise PermissionError("Audit entries are append-only.")


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update (full replace)"
        PATCH = "patch", "Patch"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        REJECTED = "rejected", "Rejected by Kodexa"
        CONFLICT = "conflict", "Conflict"
        FAILED = "failed", "Failed"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The user row may go; the entry keeps who it was. No database cascade may ever touch an entry.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    resource = models.CharField(max_length=64)
    remote_id = models.CharField(max_length=255, blank=True, db_index=True)
    request_body = models.JSONField(null=True, blank=True)
    response_status = models.IntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    diff = models.JSONField(default=list, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    bulk_job_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["resource", "remote_id", "-occurred_at"], name="audit_resource_remote_idx")]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.remote_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries are append-only.")

    @property
    def resource_label(self) -> str:
        resource = RESOURCES.get(self.resource)
        return resource.label if resource else self.resource

    @property
    def slice_kind(self) -> str:
        """The URL segment of the slice pages for this entry's resource."""
        return "orchestrator" if self.resource == ORCHESTRATOR_SLICE.path else "execution"
