"""Security events into the audit log: sign-ins, failed sign-ins and sign-outs (connected in `AuditConfig.ready`)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .models import ACCOUNT, AuditEntry
from .services import AuditContext, record_attempt

Action, Outcome = AuditEntry.Action, AuditEntry.Outcome


def _context(request, **overrides) -> AuditContext:
    context = AuditContext.from_request(request) if request is not None else AuditContext.system()
    return context.but(**overrides) if overrides else context


@receiver(user_logged_in, dispatch_uid="audit-login")
def audit_login(sender, request, user, **kwargs):
    record_attempt(
        _context(request, actor=user),
        action=Action.LOGIN,
        outcome=Outcome.SUCCEEDED,
        resource=ACCOUNT,
        remote_id=user.get_username(),
    )


@receiver(user_logged_out, dispatch_uid="audit-logout")
def audit_logout(sender, request, user, **kwargs):
    if user is None:  # the session had already ended
        return
    record_attempt(
        _context(request, actor=user),
        action=Action.LOGOUT,
        outcome=Outcome.SUCCEEDED,
        resource=ACCOUNT,
        remote_id=user.get_username(),
    )


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the claimed username is kept.
    claimed = str(credentials.get("username", ""))
    record_attempt(
        _context(request, actor=None, actor_name="anonymous"),
        action=Action.LOGIN_FAILED,
        outcome=Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=claimed,
        error="Wrong username or password, or the account is inactive.",
    )
