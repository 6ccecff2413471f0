"""Sign-in throttling with django-axes: after `AXES_FAILURE_LIMIT` failed sign-ins a username is locked out on that
address, and after `LOGIN_ADDRESS_FAILURE_LIMIT` failures across usernames the address itself is, each for
`AXES_COOLOFF_TIME` after the last failure (settings.py has the policy).

This module holds the pieces the console adds to axes: the handler that adds the limit per address (axes counts
every failure per username and address; the sum over an address's usernames is this limit's count), the backend
that refuses a locked-out sign-in (and says so on the request, for the audit log) and the page a locked-out person
sees. The audit entries are written in `audit.signals`.
"""

import math
from datetime import datetime

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_ip_address, get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.shortcuts import render
from django.utils import timezone

UNLOCK_COMMAND = "manage.py axes_reset_username"
UNLOCK_ADDRESS_COMMAND = "manage.py axes_reset_ip"
_REFUSED_WHILE_LOCKED = "sign_in_refused_while_locked"
_ADDRESS_LOCKED = "sign_in_address_locked"


def _recent_attempts(request):
    """Axes's counts of failures from this request's address, any username, within the cool-off."""
    attempts = AccessAttempt.objects.filter(ip_address=get_client_ip_address(request))
    if cool_off := get_cool_off(request):
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return attempts


class SignInThrottleHandler(AxesDatabaseHandler):
    """Axes's database handler with a second limit: failures from one address across every username. Without it,
    one address could try `AXES_FAILURE_LIMIT - 1` passwords on every account. It is higher than the per-username
    limit, so a few people behind one address who mistype do not lock each other out.

    Axes asks `get_failures` both whether a sign-in is locked and whether a failure locks: an address over its limit
    counts as the per-username limit reached, and the request is marked so the page and the audit say why."""

    def get_failures(self, request, credentials=None) -> int:
        failures = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        if failures < limit and address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            setattr(request, _ADDRESS_LOCKED, True)
            return limit
        return failures


def address_failures(request) -> int:
    """Failed sign-ins from this request's address within the cool-off, whatever username they claimed."""
    return _recent_attempts(request).aggregate(failures=Sum("failures_since_start"))["failures"] or 0


def address_locked(request) -> bool:
    """Whether this request's address (rather than its username on it) is what is locked out."""
    return bool(getattr(request, _ADDRESS_LOCKED, False))


class SignInThrottleBackend(AxesStandaloneBackend):
    """First in `AUTHENTICATION_BACKENDS`: refuses a sign-in whose username is locked out on the caller's address,
    before any password is checked. It signs nobody in itself (`RoleBackend` does).

    A call without a request (the test client's `login`, a shell) has no address to count against and is not a
    sign-in form: it passes through. Django's login views and the admin's always pass the request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, _REFUSED_WHILE_LOCKED, True)
            raise


def refused_while_locked(request) -> bool:
    """Whether this request's sign-in was refused because it was already locked out (the password went unchecked),
    as opposed to a sign-in that failed on its password."""
    return bool(getattr(request, _REFUSED_WHILE_LOCKED, False))


def lockout_ends_at(request, username: str | None) -> datetime | None:
    """When `username` may sign in again from this request's address: the cool-off after the last counted failure
    (of any username, when the address is locked; None: only an administrator can lift it)."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    attempts = _recent_attempts(request)
    if not address_locked(request):
        attempts = attempts.filter(username=username)
    last_failure = attempts.aggregate(last=Max("attempt_time")).get("last")
    return (last_failure or timezone.now()) + cool_off


def locked_out_response(request, original_response=None, credentials=None):
    """The lockout page (`AXES_LOCKOUT_CALLABLE`): 429 Too Many Requests with `Retry-After`, saying how long the
    wait is and how an administrator can lift it sooner."""
    username = get_client_username(request, credentials) or ""
    ends_at = lockout_ends_at(request, username)
    seconds = max(0, math.ceil((ends_at - timezone.now()).total_seconds())) if ends_at else None
    response = render(
        request,
        "registration/locked_out.html",
        {
            "username": username,
            "failure_limit": get_failure_limit(request, credentials),
            "address_locked": address_locked(request),
            "address_failure_limit": settings.LOGIN_ADDRESS_FAILURE_LIMIT,
            "ends_at": ends_at,
            "minutes_left": max(1, math.ceil(seconds / 60)) if seconds is not None else None,
            "unlock_command": UNLOCK_COMMAND,
            "unlock_address_command": UNLOCK_ADDRESS_COMMAND,
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    return response
