"""A rate limit on the JSON API per token (per user for a signed-in browser), shared by every web process.

DRF's throttle keeps each caller's recent request times in a cache; the `throttle` cache is a database table, so
several gunicorn processes count together. A refused request is a 429 with `Retry-After`; the first refusal in a
window is audited (one entry, not one per refused request: a runaway script must not flood the audit log).
"""

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from slices_admin.audit.models import ACCOUNT, AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.tokens.models import APIToken


class ApiRateThrottle(SimpleRateThrottle):
    """At most `API_RATE_LIMIT` requests (e.g. `600/min`) per token, or per user signed in by session."""

    scope = "api"
    duration: int | None  # seconds in the rate's window, set by SimpleRateThrottle.__init__ (the stubs omit it)

    def __init__(self):
        self.cache = caches["throttle"]
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.API_RATE_LIMIT or None  # read on each request: the setting may change without a restart

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, APIToken):
            caller = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            caller = f"user-{request.user.pk}"
        else:
            return None  # refused before this by the permission check
        return self.cache_format % {"scope": self.scope, "ident": caller}

    def allow_request(self, request, view) -> bool:
        if super().allow_request(request, view):
            return True
        if self.cache.add(f"{self.key}-audited", True, self.duration):
            _audit_refusal(request)
        return False


def _audit_refusal(request) -> None:
    caller = "an API token, named in the entry's credential" if isinstance(request.auth, APIToken) else "a session"
    record_attempt(
        AuditContext.from_request(request),
        action=AuditEntry.Action.RATE_LIMITED,
        outcome=AuditEntry.Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=request.user.get_username(),
        error=(
            f"API requests over the limit of {settings.API_RATE_LIMIT} (with {caller}) are refused with 429 until the "
            "window passes; further refusals in this window are not audited."
        ),
    )
