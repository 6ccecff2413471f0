"""Security events into the audit log: sign-ins, failed sign-ins, lockouts after too many of them, and sign-outs
(connected in `AuditConfig.ready`).

A failure to write one is logged and never stops the sign-in or sign-out itself.
"""

import functools
import logging

from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from slices_admin.accounts.backends import password_refused_by_setting
from slices_admin.accounts.sign_in import describe, details_of
from slices_admin.accounts.throttling import (
    UNLOCK_ADDRESS_COMMAND,
    UNLOCK_COMMAND,
    address_locked,
    refused_while_locked,
)

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
    """With how: a password, or the identity provider (which, and the subject it vouched for)."""
    details = details_of(request)
    record_attempt(
        _context(request, actor=user, reason=describe(details)),
        action=Action.LOGIN,
        outcome=Outcome.SUCCEEDED,
        resource=ACCOUNT,
        remote_id=user.get_username(),
        request_body=details,
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


def _claimed(username) -> str:
    """The username a sign-in claimed, kept only when it is an account: people type their password into the
    username box, and that must not be kept for ever."""
    claimed = str(username or "")[:150]
    return claimed if get_user_model().objects.filter(username=claimed).exists() else "(no such user)"


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
@_never_raises
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`.
    if request is not None and refused_while_locked(request):
        error = "Refused without checking the password: too many failed sign-ins from this address (locked out)."
    elif request is not None and password_refused_by_setting(request):
        error = (
            "The password was right, but this account may not sign in with one (PASSWORD_SIGN_IN=listed and it is "
            "not in PASSWORD_SIGN_IN_USERS): it signs in with the identity provider."
        )
    else:
        error = "Wrong username or password, or the account is inactive."
    record_attempt(
        _context(request, actor=None, actor_name="anonymous"),
        action=Action.LOGIN_FAILED,
        outcome=Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=_claimed(credentials.get("username")),
        error=error,
    )


@receiver(user_locked_out, dispatch_uid="audit-login-locked")
@_never_raises
def audit_login_locked(sender, request=None, username=None, ip_address=None, **kwargs):
    """One entry when a username becomes locked out on an address. Axes signals again for each attempt refused
    while the lockout lasts; those are audited as failed sign-ins (above), not as new lockouts."""
    if request is not None and refused_while_locked(request):
        return
    cool_off = get_cool_off(request)
    minutes = cool_off.total_seconds() / 60 if cool_off else None
    duration = f"for {minutes:g} minutes after the last failure" if minutes else "until an administrator unlocks it"
    address = ip_address or "an unknown address"
    if request is not None and address_locked(request):
        error = (
            f"Address locked out after {settings.LOGIN_ADDRESS_FAILURE_LIMIT} failed sign-ins from {address} across "
            f"usernames: sign-in as anyone from that address is refused {duration} ({UNLOCK_ADDRESS_COMMAND} lifts it)."
        )
    else:
        error = (
            f"Locked out after {settings.AXES_FAILURE_LIMIT} failed sign-ins from {address}: sign-in as this user "
            f"from that address is refused {duration} ({UNLOCK_COMMAND} lifts it)."
        )
    record_attempt(
        _context(request, actor=None, actor_name="anonymous"),
        action=Action.LOGIN_LOCKED,
        outcome=Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=_claimed(username),
        error=error,
    )
