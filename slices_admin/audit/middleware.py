"""Every refusal (HTTP 403: a missing permission, a failed CSRF check) becomes an audit entry."""

from .models import ACCOUNT, AuditEntry
from .services import AuditContext, record_attempt


class AuditDeniedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            user = getattr(request, "user", None)
            who = user.get_username() if user is not None and user.is_authenticated else "an anonymous visitor"
            reason = getattr(request, "denied_reason", "") or "the role lacks the permission"
            record_attempt(
                AuditContext.from_request(request, reason=reason),
                action=AuditEntry.Action.PERMISSION_DENIED,
                outcome=AuditEntry.Outcome.DENIED,
                resource=ACCOUNT,
                remote_id=user.get_username() if user is not None and user.is_authenticated else "",
                error=f"Refused {request.method} {request.path} for {who}: {reason}.",
            )
        return response
