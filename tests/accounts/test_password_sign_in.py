"""Local passwords beside the identity provider: `PASSWORD_SIGN_IN=all` lets every account with one use it;
`listed` only the break-glass accounts of `PASSWORD_SIGN_IN_USERS`, on the console's login page and the admin's."""

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from tests.identity_provider import PROVIDER_NAME

pytestmark = pytest.mark.django_db

PASSWORD = "x" * 12  # make_user's
Action = AuditEntry.Action


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def listed(settings, oidc):
    """The identity provider on; only `break-glass` may use a password."""
    oidc()
    settings.PASSWORD_SIGN_IN = "listed"
    settings.PASSWORD_SIGN_IN_USERS = ["break-glass"]


def sign_in(client, username: str, password: str = PASSWORD, url: str = ""):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_by_default_every_account_with_a_password_may_use_it(client, make_user, settings):
    assert settings.PASSWORD_SIGN_IN == "all"
    make_user("viewer", "vic")
    assert sign_in(client, "vic").status_code == 302 and signed_in(client)


def test_a_listed_account_signs_in_with_its_password(client, make_user, listed):
    make_user("admin", "break-glass")
    assert sign_in(client, "break-glass").status_code == 302 and signed_in(client)


def test_an_unlisted_account_with_the_right_password_is_sent_to_the_provider(client, make_user, listed):
    make_user("operator", "otto")
    response = sign_in(client, "otto")
    assert response.status_code == 200 and not signed_in(client)
    assert f"This account does not sign in with a password here: sign in with {PROVIDER_NAME}." in (
        response.content.decode()
    )
    refused = AuditEntry.objects.get(action=Action.LOGIN_FAILED)
    assert refused.remote_id == "otto" and "PASSWORD_SIGN_IN" in refused.error


def test_a_wrong_password_says_nothing_about_the_setting(client, make_user, listed):
    make_user("operator", "otto")
    page = sign_in(client, "otto", "wrong-password-1").content.decode()
    assert "didn&#x27;t match" in page or "didn't match" in page
    assert "does not sign in with a password" not in page
    assert "PASSWORD_SIGN_IN" not in AuditEntry.objects.get(action=Action.LOGIN_FAILED).error


def test_the_admin_login_keeps_to_the_setting_too(client, make_user, listed):
    make_user("admin", "ada")
    response = sign_in(client, "ada", url=reverse("admin:login"))
    assert response.status_code == 200 and not signed_in(client)


def test_the_login_page_keeps_the_password_form_for_the_listed_accounts(client, listed):
    page = client.get(reverse("login")).content.decode()
    assert f"Sign in with {PROVIDER_NAME}" in page and 'name="password"' in page and "Or with a local account" in page


def test_with_no_account_listed_the_login_page_offers_the_provider_alone(client, listed, settings, make_user):
    settings.PASSWORD_SIGN_IN_USERS = []
    page = client.get(reverse("login")).content.decode()
    assert f"Sign in with {PROVIDER_NAME}" in page and 'name="password"' not in page
    make_user("admin", "break-glass")
    assert sign_in(client, "break-glass").status_code == 200 and not signed_in(client)
