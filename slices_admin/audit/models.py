"""The audit entry. Rows are written once, chained by hash, and never updated or deleted (the database refuses)."""

from typing import Any, NoReturn, Self

from django.conf import settings
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Concat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE, RESOURCES


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """No bulk rewriting or removal either (the database triggers refuse it too)."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit entries are append-only.")

    def delete(self) -> NoReturn:
        raise PermissionError("Audit entries are append-only.")

    def slice_changes(self) -> Self:
        """Attempted changes to slices (not refreshes, syncs or security events)."""
        return self.filter(resource__in=list(RESOURCES), action__in=AuditEntry.CHANGE_ACTIONS)

    def security_events(self) -> Self:
        return self.filter(action__in=AuditEntry.SECURITY_ACTIONS)


# The `resource` of security events (sign-ins, denials, role changes); slice events name the Kodexa resource.
ACCOUNT = "account"


def search_text() -> Concat:
    """Which object, who, the error, the reason and the path of an entry as one text: what the audit search looks
    in. On PostgreSQL its upper-case form has a trigram index (migration 0007), built from this very expression: a
    change here needs a migration rebuilding the index."""
    gap = models.Value("\n")
    texts = ("remote_id", gap, "actor_username", gap, "error", gap, "reason", gap, "path")
    return Concat(*texts, output_field=TextField())


def _keyed(*fields: str, name: str) -> models.Index:
    """An index that serves a filter on `fields` and the newest-first keyset walk in one."""
    return models.Index(fields=[*fields, "-occurred_at", "-id"], name=name)


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update (full replace)"
        PATCH = "patch", "Patch"
        REFRESH = "refresh", "Refresh from Kodexa"
        SYNC = "sync", "Sync from Kodexa"
        BULK_START = "bulk_start", "Bulk edit started"
        BULK_CANCEL = "bulk_cancel", "Bulk edit cancelled"
        BULK_APPROVAL_REQUESTED = "bulk_approval_requested", "Bulk edit awaiting approval"
        BULK_APPROVE = "bulk_approve", "Bulk edit approved"
        BULK_REJECT = "bulk_reject", "Bulk edit rejected"
        BULK_WITHDRAW = "bulk_withdraw", "Bulk edit withdrawn"
        BULK_EXPIRE = "bulk_expire", "Bulk edit request expired"
        BULK_SCHEDULE = "bulk_schedule", "Bulk edit scheduled"
        BULK_RELEASE = "bulk_release", "Scheduled bulk edit started"
        BULK_NOT_STARTED = "bulk_not_started", "Scheduled bulk edit not started"
        BULK_PAUSE = "bulk_pause", "Bulk edit paused"
        BULK_RESUME = "bulk_resume", "Bulk edit resumed"
        BULK_RATE = "bulk_rate", "Bulk edit rate changed"
        LOGIN = "login", "Sign in"
        LOGIN_FAILED = "login_failed", "Failed sign-in"
        LOGIN_LOCKED = "login_locked", "Sign-in locked out"
        LOGOUT = "logout", "Sign out"
        PERMISSION_DENIED = "permission_denied", "Permission denied"
        ROLE_CHANGE = "role_change", "Role change"
        RATE_LIMITED = "rate_limited", "API rate limit reached"
        TOKEN_CREATE = "token_create", "API token created"
        TOKEN_REVOKE = "token_revoke", "API token revoked"
        TOKEN_REFUSED = "token_refused", "Expired or revoked API token refused"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        REJECTED = "rejected", "Rejected by Kodexa"
        CONFLICT = "conflict", "Conflict"
        FAILED = "failed", "Failed"
        DENIED = "denied", "Denied"

    CHANGE_ACTIONS = (Action.CREATE, Action.UPDATE, Action.PATCH)
    SECURITY_ACTIONS = (
        Action.LOGIN,
        Action.LOGIN_FAILED,
        Action.LOGIN_LOCKED,
        Action.LOGOUT,
        Action.PERMISSION_DENIED,
        Action.ROLE_CHANGE,
        Action.RATE_LIMITED,
        Action.TOKEN_CREATE,
        Action.TOKEN_REVOKE,
        Action.TOKEN_REFUSED,
    )

    occurred_at = models.DateTimeField(default=timezone.now)
    # The user row may go; the entry keeps who it was. No database cascade may ever touch an entry.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    resource = models.CharField(max_length=64)
    remote_id = models.CharField(max_length=255, blank=True)
    request_body = models.JSONField(null=True, blank=True)
    response_status = models.IntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    diff = models.JSONField(default=list, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    bulk_job_id = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    path = models.CharField(max_length=500, blank=True)
    # The API token the request was made with ("API token 12 “deploy” (slc_…)"); null for a browser session, a
    # command or a worker, and on every entry written before chain version 2.
    credential = models.CharField(max_length=255, null=True, blank=True)
    # The chain: this entry's hash covers its content and the previous entry's hash (see `audit.chain`).
    prev_hash = models.CharField(max_length=64, unique=True)  # unique: the database itself refuses a fork
    entry_hash = models.CharField(max_length=64, unique=True)
    chain_version = models.PositiveSmallIntegerField(default=1)  # the rule its hash follows (`chain.RULES`)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            _keyed(name="audit_time_idx"),
            _keyed("actor_username", name="audit_actor_idx"),
            _keyed("action", name="audit_action_idx"),
            _keyed("outcome", name="audit_outcome_idx"),
            _keyed("resource", name="audit_resource_idx"),
            _keyed("resource", "remote_id", name="audit_resource_remote_idx"),
            _keyed("remote_id", name="audit_remote_idx"),
            _keyed("bulk_job_id", name="audit_bulk_job_idx"),
            _keyed("request_id", name="audit_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.remote_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit entries are append-only.")

    @property
    def resource_label(self) -> str:
        resource = RESOURCES.get(self.resource)
        if resource:
            return resource.label
        return "Account" if self.resource == ACCOUNT else self.resource

    @property
    def is_slice_event(self) -> bool:
        return self.resource in RESOURCES

    @property
    def slice_kind(self) -> str:
        """The URL segment of the slice pages for this entry's resource."""
        return "orchestrator" if self.resource == ORCHESTRATOR_SLICE.path else "execution"

    @property
    def slice_url(self) -> str:
        """The slice's page, or "" when the entry names no slice (or an id no URL can carry, e.g. a newline)."""
        if not (self.is_slice_event and self.remote_id):
            return ""
        return slice_url(self.slice_kind, self.remote_id)


def slice_url(kind: str, slice_id: str) -> str:
    try:
        return reverse("slices:detail", args=[kind, slice_id])
    except NoReverseMatch:
        return ""
