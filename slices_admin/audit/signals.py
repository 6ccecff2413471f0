"""Security events into the audit log: sign-ins, failed sign-ins and sign-outs (connected in `AuditConfig.ready`).

A failure to write one is logged and never stops the sign-in or sign-out itself.
"""

import functools
import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .models import ACCOUNT, AuditEntry
from .services import AuditContext, record_attempt

Action, Outcome = AuditEntry.Action, AuditEntry.Outcome
logger = logging.getLogger(__name__)


def _never_raises(receiver_function):
    @functools.wraps(receiver_function)
    def guarded(*args, **kwargs):
        try:
            receiver_function(*args, **kwargs)
        except Exception:
            logger.exception("could not audit a security event (%s)", receiver_function.__name__)

    return guarded


def _context(request, **overrides) -> AuditContext:
    context = AuditContext.from_request(request) if request is not None else AuditContext.system()
    return context.but(**overrides) if overrides else context


@receiver(user_logged_in, dispatch_uid="audit-login")
@_never_raises
def audit_login(sender, request, user, **kwargs):
    record_attempt(
        _context(request, actor=user),
        action=Action.LOGIN,
        outcome=Outcome.SUCCEEDED,
        resource=ACCOUNT,
        remote_id=user.get_username(),
    )


@receiver(user_logged_out, dispatch_uid="audit-logout")
@_never_raises
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
@_never_raises
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`. The claimed name is kept only when it is an
    # account: people type their password into the username box, and that must not be kept for ever.
    claimed = str(credentials.get("username", ""))[:150]
    if not get_user_model().objects.filter(username=claimed).exists():
        claimed = "(no such user)"
    record_attempt(
        _context(request, actor=None, actor_name="anonymous"),
        action=Action.LOGIN_FAILED,
        outcome=Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=claimed,
        error="Wrong username or password, or the account is inactive.",
    )
