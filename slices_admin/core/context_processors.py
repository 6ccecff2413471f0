"""Values every page shows: which Kodexa the console talks to, and what the user may do."""

from django.conf import settings

from slices_admin.accounts.roles import role_of
from slices_admin.kodexa.client import get_client


def console(request):
    user = getattr(request, "user", None)
    return {
        "kodexa_target": get_client().target,
        "kodexa_is_sandbox": settings.KODEXA_SANDBOX,
        "user_role": role_of(user) if user is not None and user.is_authenticated else None,
    }
