"""The header's count of bulk edits waiting for someone (other than their requester) to approve them."""

import functools

from django.http import HttpRequest

from slices_admin.accounts.roles import EDIT_SLICES

from .approval import awaiting_others


def approvals(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(EDIT_SLICES):
        return {"bulk_awaiting_approval": None}
    # Called by the template only where the header shows it: a fragment never asks.
    return {"bulk_awaiting_approval": functools.partial(awaiting_others, user)}
