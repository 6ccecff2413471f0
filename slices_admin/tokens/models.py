"""A personal API token: its owner, its name, when it expires, when it was last used, and its digest (never the
token itself; see `keys`)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import keys

# Last use is written at most this often per token: a script calling many times a second costs no write each time.
LAST_USED_EVERY = timedelta(minutes=1)


class APIToken(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. the script that uses it.")
    key_id = models.CharField(max_length=keys.KEY_ID_LENGTH, db_index=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Moved in from DRF's `authtoken` (a key without the `slc_` prefix): see migration 0002.
    legacy = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]
        permissions = [("manage_all_tokens", "List and revoke every user's API tokens")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"

    def status_at(self, moment: datetime) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at <= moment:
            return self.Status.EXPIRED
        return self.Status.ACTIVE

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())

    @property
    def status_label(self) -> str:
        return self.Status(self.status).label

    @property
    def shown_id(self) -> str:
        """How pages name the token beside its name: its public start, never more of it."""
        return f"{self.key_id}…" if self.legacy else f"{keys.PREFIX}{self.key_id}…"

    @property
    def credential(self) -> str:
        """How an audit entry names the token a request used (`AuditEntry.credential`)."""
        return f"API token {self.pk} “{self.name}” ({self.shown_id})"
