from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from slices_admin.accounts.roles import EDIT_SLICES, role_of

pytestmark = pytest.mark.django_db


def run(*args, **env) -> str:
    out = StringIO()
    call_command("add_user", *args, stdout=out)
    return out.getvalue()


def test_add_user_with_token_prints_the_token_last(monkeypatch):
    monkeypatch.setenv("NEW_PASSWORD", "a-long-enough-secret")
    output = run("robin", "--role", "operator", "--password-env", "NEW_PASSWORD", "--token")
    user = get_user_model().objects.get(username="robin")
    assert output.strip().splitlines()[-1].endswith(Token.objects.get(user=user).key)
    assert user.check_password("a-long-enough-secret")
    assert role_of(user) == "operator" and user.has_perm(EDIT_SLICES)


def test_changing_a_role_removes_the_old_one():
    run("sam", "--role", "operator")
    run("sam", "--role", "viewer")
    user = get_user_model().objects.get(username="sam")
    assert role_of(user) == "viewer" and not user.has_perm(EDIT_SLICES)
    run("sam", "--role", "admin")
    user = get_user_model().objects.get(username="sam")
    assert role_of(user) == "admin" and user.is_staff and user.has_perm(EDIT_SLICES)


def test_a_weak_or_missing_password_is_refused(monkeypatch):
    monkeypatch.setenv("WEAK", "short")
    with pytest.raises(CommandError, match="Password rejected"):
        run("weak", "--role", "viewer", "--password-env", "WEAK")
    with pytest.raises(CommandError, match="empty or not set"):
        run("weak", "--role", "viewer", "--password-env", "UNSET_VARIABLE_FOR_TEST")
    assert not get_user_model().objects.filter(username="weak").exists()  # nothing half-made
