"""Security events are audited: sign-in, failed sign-in, sign-out, refusals (roles and CSRF), role changes."""

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from slices_admin.accounts.roles import assign_role
from slices_admin.audit import chain
from slices_admin.audit.models import ACCOUNT, AuditEntry

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
BROWSER = {"HTTP_USER_AGENT": "Firefox/140 (ops laptop)", "REMOTE_ADDR": "10.1.2.3"}


@pytest.fixture
def alice(make_user):
    return make_user("viewer", "alice")


def only(action: str) -> AuditEntry:
    return AuditEntry.objects.get(action=action)


def test_signing_in_and_out_is_audited_with_where_from(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": "x" * 12}, **BROWSER)
    login = only(Action.LOGIN)
    assert (login.actor_username, login.outcome, login.resource) == ("alice", "succeeded", ACCOUNT)
    assert (login.ip_address, login.user_agent) == ("10.1.2.3", "Firefox/140 (ops laptop)")
    assert login.request_id and login.path.startswith("POST /login/")
    client.post(reverse("logout"), **BROWSER)
    assert only(Action.LOGOUT).actor_username == "alice"


def test_a_failed_sign_in_is_audited_without_the_password(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "hunter2-wrong-guess"}, **BROWSER)
    assert response.status_code == 200
    failed = only(Action.LOGIN_FAILED)
    assert (failed.actor_username, failed.remote_id, failed.outcome) == ("anonymous", "alice", "denied")
    assert failed.ip_address == "10.1.2.3"
    values = {name: getattr(failed, name) for name in chain.CURRENT_FIELDS}
    assert "hunter2" not in chain.canonical(values, chain.CURRENT_VERSION).decode()


def test_a_failed_sign_in_as_nobody_keeps_no_trace_of_what_was_typed(client):
    client.post(reverse("login"), {"username": "Correct-Horse-Battery", "password": "x"}, **BROWSER)
    failed = only(Action.LOGIN_FAILED)
    assert failed.remote_id == "(no such user)"
    values = {name: getattr(failed, name) for name in chain.CURRENT_FIELDS}
    assert "Horse" not in chain.canonical(values, chain.CURRENT_VERSION).decode()


def test_anonymous_refusals_are_capped_per_address(client, monkeypatch):
    from slices_admin.audit import middleware
    from slices_admin.audit.middleware import ANONYMOUS_PER_MINUTE

    minute = timezone.now()  # the budget is per minute: keep the whole loop inside one
    monkeypatch.setattr(middleware, "timezone", SimpleNamespace(now=lambda: minute))
    for _ in range(ANONYMOUS_PER_MINUTE + 5):
        assert Client(enforce_csrf_checks=True).post("/slices/orchestrator/x/refresh/", **BROWSER).status_code == 403
    denied = AuditEntry.objects.filter(action=Action.PERMISSION_DENIED)
    assert denied.count() == ANONYMOUS_PER_MINUTE
    assert denied.first().actor_username == "anonymous"


def test_a_long_refused_path_is_shortened_in_the_entry(client, make_user):
    client.force_login(make_user("viewer"))
    client.post("/slices/execution/new/?" + "x" * 5000)
    denied = only(Action.PERMISSION_DENIED)
    assert len(denied.error) < 500 and len(denied.path) <= 500


def test_a_refused_page_action_is_audited_and_sends_nothing(kodexa, as_role):
    before = kodexa.request_count()
    response = as_role("viewer").post(reverse("slices:execution-create"), {"status": "PENDING"})
    assert response.status_code == 403
    denied = only(Action.PERMISSION_DENIED)
    assert denied.outcome == "denied" and denied.actor_username.startswith("viewer")
    assert "POST /slices/execution/new/" in denied.error and denied.path == "POST /slices/execution/new/"
    assert kodexa.request_count() == before and not AuditEntry.objects.slice_changes().exists()


def test_a_refused_api_call_is_audited(kodexa, api):
    response = api("viewer").patch("/api/v1/orchestrator-execution-slices/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                   {"status": "FAILED"}, format="json")  # fmt: skip
    assert response.status_code == 403
    assert "PATCH /api/v1/orchestrator-execution-slices/" in only(Action.PERMISSION_DENIED).error


def test_a_failed_csrf_check_is_audited_and_explained(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    response = client.post(reverse("slices:execution-create"), {"status": "PENDING"})
    assert response.status_code == 403
    assert "Reload the page" in response.content.decode()
    assert "CSRF check failed" in only(Action.PERMISSION_DENIED).reason


def test_a_role_change_is_audited_with_before_and_after(make_user):
    user = make_user("viewer", "bob")
    assign_role(user, "operator")
    change = AuditEntry.objects.filter(action=Action.ROLE_CHANGE, remote_id="bob").order_by("id").last()
    assert (change.before, change.after) == ({"role": "viewer"}, {"role": "operator"})
    assert change.diff == [{"field": "role", "before": "viewer", "after": "operator"}]
    assign_role(user, "operator")  # no change, no entry
    assert AuditEntry.objects.filter(action=Action.ROLE_CHANGE, remote_id="bob").count() == 2


def test_a_role_change_in_the_user_admin_is_audited_with_the_admin_as_actor(client, make_user):
    admin = make_user("admin", "root")
    user = make_user("viewer", "carol")
    client.force_login(admin)
    url = reverse("admin:auth_user_change", args=[user.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions")}
    data.update(
        {"is_superuser": "on", "is_staff": "on", "is_active": "on", "date_joined_0": "2026-01-01",
         "date_joined_1": "10:00:00", "last_login_0": "", "last_login_1": ""}
    )  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    change = AuditEntry.objects.filter(action=Action.ROLE_CHANGE, remote_id="carol").order_by("id").last()
    assert change.actor_username == "root"
    assert (change.before, change.after) == ({"role": "viewer"}, {"role": "admin"})


def test_add_user_command_records_who_made_the_change(capsys):
    from django.core.management import call_command

    call_command("add_user", "dave", "--role", "operator")
    change = only(Action.ROLE_CHANGE)
    assert (change.actor_username, change.remote_id, change.after) == (
        "manage.py add_user",
        "dave",
        {"role": "operator"},
    )
    assert get_user_model().objects.filter(username="dave").exists()
