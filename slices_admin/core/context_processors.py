"""Values every page shows: which Kodexa the console talks to, whether it answers, and what the user may do."""

import functools

from django.conf import settings

from slices_admin.accounts.roles import role_of
from slices_admin.kodexa.client import get_client

from .services import kodexa_outage


def console(request):
    user = getattr(request, "user", None)
    return {
        "kodexa_target": get_client().target,
        "kodexa_is_sandbox": settings.KODEXA_SANDBOX,
        "kodexa_outage": kodexa_outage() if user is not None and user.is_authenticated else None,
        # Called by the template only where it shows the role (the page header, a page's text): a fragment never
        # asks, and a page asking twice reads it once.
        "user_role": functools.cache(functools.partial(role_of, user))
        if user is not None and user.is_authenticated
        else None,
    }
