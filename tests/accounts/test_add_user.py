from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from slices_admin.accounts.roles import EDIT_SLICES, role_of
from slices_admin.audit.models import AuditEntry
from slices_admin.tokens.models import APIToken

pytestmark = pytest.mark.django_db


def run(*args, **env) -> str:
    out = StringIO()
    call_command("add_user", *args, stdout=out)
    return out.getvalue()


def test_add_user_with_token_prints_a_new_personal_token_last_and_it_signs_in(monkeypatch):
    monkeypatch.setenv("NEW_PASSWORD", "a-long-enough-secret")
    output = run("robin", "--role", "operator", "--password-env", "NEW_PASSWORD", "--token")
    user = get_user_model().objects.get(username="robin")
    text = output.strip().splitlines()[-1].rsplit(" ", 1)[1]
    token = APIToken.objects.get(user=user)
    assert text.startswith(f"slc_{token.key_id}_") and token.name == "add_user" and token.status == "active"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {text}")
    assert api.get("/api/v1/audit").status_code == 200
    created = AuditEntry.objects.get(action=AuditEntry.Action.TOKEN_CREATE)
    assert (created.actor_username, created.remote_id) == ("manage.py add_user", "robin")
    assert user.check_password("a-long-enough-secret")
    assert role_of(user) == "operator" and user.has_perm(EDIT_SLICES)


def test_each_token_option_makes_another_token_with_the_expiry_asked(settings):
    run("kim", "--role", "viewer", "--token")
    second = run("kim", "--role", "viewer", "--token", "--token-days", "7")
    assert APIToken.objects.filter(user__username="kim").count() == 2
    newest = APIToken.objects.filter(user__username="kim").latest("id")
    assert newest.expires_at - newest.created_at == timedelta(days=7)
    assert f"expires {newest.expires_at:%Y-%m-%d %H:%M} UTC" in second
    settings.API_TOKEN_MAX_DAYS = 30
    with pytest.raises(CommandError, match="from 1 to 30"):
        run("kim", "--role", "viewer", "--token", "--token-days", "31")
    assert APIToken.objects.filter(user__username="kim").count() == 2


def test_without_the_token_option_no_token_is_made():
    output = run("lee", "--role", "viewer")
    assert not APIToken.objects.exists() and "slc_" not in output


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
