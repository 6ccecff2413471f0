"""Signing in with a local password, and what a user may do, read in one query per request."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q

_REFUSED_BY_SETTING = "password_sign_in_off"  # the request attribute: a right password the setting refused


def passwords_for_everyone() -> bool:
    """`PASSWORD_SIGN_IN=all`: every account with a password may use it."""
    return settings.PASSWORD_SIGN_IN == "all"  # noqa: S105 (a mode, not a password)


def password_sign_in_allowed(username: str) -> bool:
    """Whether `username` may sign in with a password (`PASSWORD_SIGN_IN`): anyone with one, or the listed
    break-glass accounts only."""
    return passwords_for_everyone() or username in settings.PASSWORD_SIGN_IN_USERS


def password_refused_by_setting(request) -> bool:
    """Whether this request's password was right but its account may not use one (the form and the audit say so)."""
    return bool(getattr(request, _REFUSED_BY_SETTING, False))


class RoleBackend(ModelBackend):
    """Django's model backend, with a user's permissions (their role group's and any of their own) read in one
    query rather than two: every page and API call checks one, so the second round trip was paid on each.

    A password sign-in of an account `PASSWORD_SIGN_IN` leaves out is refused, once the password was checked (so
    nobody learns which accounts may use one without knowing its password)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not password_sign_in_allowed(user.get_username()):
            if request is not None:
                setattr(request, _REFUSED_BY_SETTING, True)
            return None
        return user

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                granted = Permission.objects.all()
            else:
                granted = Permission.objects.filter(Q(user=user_obj) | Q(group__user=user_obj))
            names = granted.values_list("content_type__app_label", "codename").distinct()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in names}
        return user_obj._perm_cache
