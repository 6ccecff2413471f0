"""Sign-in throttling: repeated failures lock a username out on one address for a while (answered 429 with the
lockout page), audited, lifted by the cool-off or by an administrator's command."""

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from slices_admin.audit.filters import visible_entries
from slices_admin.audit.models import AuditEntry
from tests.factories import api_token

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
PASSWORD = "x" * 12  # the `make_user` fixture's
HOME, OFFICE = "10.0.0.1", "10.0.0.2"


@pytest.fixture(autouse=True)
def _policy(settings):
    """The default policy, whatever the environment says; a fast password hash, as many sign-ins run here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20


@pytest.fixture
def alice(make_user):
    return make_user("viewer", "alice")


@pytest.fixture
def bob(make_user):
    return make_user("viewer", "bob")


def sign_in(username: str, password: str = PASSWORD, address: str = HOME, url: str | None = None):
    """A sign-in from a browser of its own (no session shared with other attempts)."""
    return Client().post(url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(times: int, username: str = "alice", address: str = HOME):
    for _ in range(times):
        response = sign_in(username, "not-the-password", address)
    return response


def lock_out(username: str = "alice", address: str = HOME):
    return fail(settings.AXES_FAILURE_LIMIT, username, address)


def signed_in(response) -> bool:
    return response.status_code == 302 and response.url == reverse("home")


def time_passes(delta: timedelta) -> None:
    """The clock moves on: every recorded failed sign-in becomes `delta` older."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - delta)


def test_failures_below_the_limit_only_show_the_form_error(alice):
    response = fail(settings.AXES_FAILURE_LIMIT - 1)
    assert response.status_code == 200 and "didn't match" in response.content.decode()
    assert signed_in(sign_in("alice"))


def test_the_failure_that_reaches_the_limit_answers_with_the_lockout_page(alice):
    response = lock_out()
    assert response.status_code == 429
    body = response.content.decode()
    assert "Sign-in paused" in body and "15 minutes" in body
    assert "manage.py axes_reset_username alice" in body
    assert int(response["Retry-After"]) == 15 * 60
    assert "<script>" not in body and "style=" not in body  # strict CSP: nothing inline
    assert "Content-Security-Policy" in response


def test_the_right_password_is_refused_while_locked_out(alice):
    lock_out()
    response = sign_in("alice")
    assert response.status_code == 429 and "Sign-in paused" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_the_lockout_is_audited_once_as_a_security_event(alice, as_role):
    lock_out()
    sign_in("alice")  # refused: audited as a failed sign-in, not as another lockout
    locked = AuditEntry.objects.get(action=Action.LOGIN_LOCKED)
    assert (locked.remote_id, locked.ip_address, locked.outcome) == ("alice", HOME, "denied")
    assert f"after {settings.AXES_FAILURE_LIMIT} failed sign-ins from {HOME}" in locked.error
    assert "axes_reset_username" in locked.error
    failed = AuditEntry.objects.filter(action=Action.LOGIN_FAILED).order_by("id")
    assert failed.count() == settings.AXES_FAILURE_LIMIT + 1
    assert "without checking the password" in failed.last().error
    assert "Wrong username or password" in failed.first().error
    assert AuditEntry.objects.security_events().filter(pk=locked.pk).exists()
    viewer = as_role("viewer").get(reverse("audit:detail", args=[locked.pk]))
    assert viewer.status_code == 404
    assert not visible_entries(viewer.wsgi_request.user).filter(pk=locked.pk).exists()


def test_another_address_and_another_user_are_unaffected(alice, bob):
    lock_out("alice", HOME)
    assert signed_in(sign_in("alice", address=OFFICE))
    assert signed_in(sign_in("bob", address=HOME))
    assert sign_in("alice", address=HOME).status_code == 429


def test_the_page_counts_down_the_time_left(alice):
    lock_out()
    time_passes(timedelta(minutes=10))
    response = sign_in("alice")
    assert response.status_code == 429
    assert "5 minutes" in response.content.decode()
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60


def test_signing_in_works_again_after_the_cool_off(alice):
    lock_out()
    sign_in("alice")  # a refusal meanwhile does not extend the lockout
    time_passes(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    assert signed_in(sign_in("alice"))


def test_an_administrator_unlocks_with_the_reset_command(alice):
    lock_out()
    out = StringIO()
    call_command("axes_reset_username", "alice", stdout=out)
    assert "1 attempts removed" in out.getvalue()
    assert signed_in(sign_in("alice"))


def test_a_successful_sign_in_starts_the_count_again(alice):
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert signed_in(sign_in("alice"))
    assert fail(settings.AXES_FAILURE_LIMIT - 1).status_code == 200
    assert signed_in(sign_in("alice"))


def test_the_admin_sign_in_form_is_throttled_too(alice):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in("alice", "not-the-password", url=url)
    assert response.status_code == 429


def test_an_api_token_is_not_a_sign_in_and_keeps_working_while_locked_out(alice):
    lock_out()
    api = APIClient(REMOTE_ADDR=HOME)
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(alice)}")
    assert api.get("/api/v1/audit").status_code == 200


def test_the_test_clients_login_still_works(alice):
    assert Client().login(username="alice", password="not-the-password") is False
    assert Client().login(username="alice", password=PASSWORD) is True


def test_behind_a_proxy_the_clients_address_is_counted_not_the_proxys(client, make_user, settings):
    """Five failures from one person behind the proxy lock that person out, not everyone the proxy serves."""
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("viewer", "robin")
    behind = {"REMOTE_ADDR": "10.0.0.1"}  # the proxy
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"username": "robin", "password": "wrong"},
            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",
            **behind,
        )
    failed = AuditEntry.objects.filter(action=AuditEntry.Action.LOGIN_FAILED).first()
    assert failed.ip_address == "203.0.113.9"  # what the proxy saw, not what the client claimed (1.2.3.4)
    locked = client.post(
        reverse("login"), {"username": "robin", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.9", **behind
    )
    assert locked.status_code == 429
    other = client.post(
        reverse("login"), {"username": "robin", "password": "x"}, HTTP_X_FORWARDED_FOR="198.51.100.7", **behind
    )
    assert other.status_code == 200  # someone else behind the same proxy: the form again, not the lockout


def guess_across_accounts(usernames, address: str = HOME):
    """Fewer failures than the per-username limit on each of many accounts, from one address."""
    response = None
    for username in usernames:
        response = fail(settings.AXES_FAILURE_LIMIT - 1, username, address)
    return response


def test_one_address_guessing_across_accounts_is_locked_out_for_every_account(alice, bob, make_user):
    accounts = [make_user("viewer", f"user{n}").username for n in range(5)]  # 5 x 4 = 20 failures
    response = guess_across_accounts(accounts)
    assert response.status_code == 429
    body = response.content.decode()
    assert "from this address" in body and "every account" in body and "axes_reset_ip" in body
    assert int(response["Retry-After"]) == 15 * 60
    refused = sign_in("alice")  # the right password of an account never guessed at
    assert refused.status_code == 429 and "_auth_user_id" not in refused.wsgi_request.session
    assert signed_in(sign_in("alice", address=OFFICE))  # another address is unaffected


def test_an_address_lockout_is_audited_once_saying_it_is_the_address(alice, make_user):
    guess_across_accounts([make_user("viewer", f"user{n}").username for n in range(5)])
    sign_in("alice")
    locked = AuditEntry.objects.get(action=Action.LOGIN_LOCKED)
    assert f"Address locked out after 20 failed sign-ins from {HOME} across usernames" in locked.error
    assert locked.outcome == "denied" and locked.ip_address == HOME
    assert "without checking the password" in AuditEntry.objects.filter(action=Action.LOGIN_FAILED).first().error


def test_failures_below_the_address_limit_lock_no_one_else(alice, make_user):
    guess_across_accounts([make_user("viewer", f"user{n}").username for n in range(4)])  # 16 failures
    assert signed_in(sign_in("alice"))


def test_the_address_lockout_ends_after_the_cool_off(alice, make_user):
    guess_across_accounts([make_user("viewer", f"user{n}").username for n in range(5)])
    time_passes(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    assert signed_in(sign_in("alice"))


def test_an_administrator_lifts_an_address_lockout_with_the_reset_ip_command(alice, make_user):
    guess_across_accounts([make_user("viewer", f"user{n}").username for n in range(5)])
    call_command("axes_reset_ip", HOME, stdout=StringIO())
    assert signed_in(sign_in("alice"))
