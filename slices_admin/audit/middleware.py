"""Every refusal (HTTP 403: a missing permission, a failed CSRF check) becomes an audit entry.

Refusals of anonymous visitors are capped per address and minute, so nobody can fill the append-only log from
outside; a failure to write the entry is logged and never turns the 403 into an error page.
"""

import logging
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import ACCOUNT, AuditEntry
from .services import AuditContext, record_attempt

logger = logging.getLogger(__name__)
ANONYMOUS_PER_MINUTE = 20
_PATH_SHOWN = 300


class AuditDeniedMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A view that wrote its own entry for the refusal (a sign-in the identity provider's callback refused)
        # says so, and the refusal is not audited twice.
        if response.status_code == 403 and not getattr(request, "denial_audited", False):
            try:
                self._record(request)
            except Exception:
                logger.exception("could not audit a refused %s %s", request.method, request.path[:_PATH_SHOWN])
        return response

    @staticmethod
    def _record(request: HttpRequest) -> None:
        user: User | AnonymousUser | None = getattr(request, "user", None)  # none if refused before authentication
        signed_in_user = user if user is not None and user.is_authenticated else None
        if signed_in_user is None and not within_anonymous_budget(request.META.get("REMOTE_ADDR", "")):
            return
        who = signed_in_user.get_username() if signed_in_user is not None else "an anonymous visitor"
        reason = getattr(request, "denied_reason", "") or "the role lacks the permission"
        path = request.path if len(request.path) <= _PATH_SHOWN else request.path[:_PATH_SHOWN] + "…"
        record_attempt(
            AuditContext.from_request(request, reason=reason),
            action=AuditEntry.Action.PERMISSION_DENIED,
            outcome=AuditEntry.Outcome.DENIED,
            resource=ACCOUNT,
            remote_id=signed_in_user.get_username() if signed_in_user is not None else "",
            error=f"Refused {request.method} {path} for {who}: {reason}.",
        )


def within_anonymous_budget(address: str) -> bool:
    """Whether another entry for an anonymous visitor at `address` fits in this minute's budget (and counts it)."""
    key = f"audit-denied:{address}:{timezone.now():%Y%m%d%H%M}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        return True
    if count == ANONYMOUS_PER_MINUTE + 1:
        logger.warning("more than %d refusals from %s this minute: the rest are not audited", count - 1, address)
    return count <= ANONYMOUS_PER_MINUTE
