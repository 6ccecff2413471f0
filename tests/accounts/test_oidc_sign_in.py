"""Signing in with the identity provider, through a real OpenID Connect provider process (Django's test client plays
the browser): users are created on first sign-in, found again by the provider's subject, and hold the role their
groups give at every sign-in; someone in none of the mapped groups is refused with a page and an audit entry."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from slices_admin.accounts.models import ProviderIdentity
from slices_admin.accounts.roles import role_of
from slices_admin.audit import chain
from slices_admin.audit.models import AuditEntry
from tests.identity_provider import PROVIDER_NAME, authorize, callback, choose_identity, sign_in_through

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
User = get_user_model()


@pytest.fixture
def idp(identity_provider, oidc):
    oidc()
    return identity_provider


def signed_in_as(client):
    """The username the client's session is signed in as, or None."""
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def entry_text(entry: AuditEntry) -> str:
    return chain.canonical(
        {name: getattr(entry, name) for name in chain.CURRENT_FIELDS}, chain.CURRENT_VERSION
    ).decode()


def test_a_first_sign_in_creates_the_user_with_the_role_of_their_group(client, idp):
    subject = idp.new_user("console-operators", username="olga")
    response = sign_in_through(client, subject)
    assert (response.status_code, response["Location"]) == (302, reverse("home"))
    olga = User.objects.get(username="olga")
    assert signed_in_as(client) == "olga" and role_of(olga) == "operator"
    assert not olga.has_usable_password()  # the provider is the only way in
    assert olga.email == "olga@example.com"
    identity = ProviderIdentity.objects.get(user=olga)
    assert (identity.issuer, identity.subject) == (idp.url, subject)
    assert client.get(reverse("slices:dashboard")).status_code == 200


def test_the_sign_in_entry_says_which_provider_and_subject_and_keeps_no_code(client, idp):
    subject = idp.new_user("console-viewers", username="vera")
    sign_in_through(client, subject)
    login = AuditEntry.objects.get(action=Action.LOGIN)
    assert login.actor_username == "vera" and login.outcome == "succeeded"
    assert login.request_body == {
        "method": "oidc",
        "provider": PROVIDER_NAME,
        "issuer": idp.url,
        "subject": subject,
        "username": "vera",
        "groups": ["console-viewers"],
    }
    assert subject in login.reason and PROVIDER_NAME in login.reason
    assert login.path == "GET /oidc/callback/"  # the one-time code and state are not kept
    for entry in AuditEntry.objects.all():
        assert "code=" not in entry_text(entry) and "state=" not in entry_text(entry)


def test_a_password_sign_in_entry_says_password(client, make_user):
    make_user("viewer", "paula")
    client.post(reverse("login"), {"username": "paula", "password": "x" * 12})
    login = AuditEntry.objects.get(action=Action.LOGIN)
    assert login.request_body == {"method": "password"} and login.reason == ""


def test_the_highest_mapped_role_wins(client, idp):
    subject = idp.new_user("console-viewers", "console-admins", "console-operators", "everyone", username="ada")
    sign_in_through(client, subject)
    ada = User.objects.get(username="ada")
    assert role_of(ada) == "admin" and ada.is_staff and ada.is_superuser


def test_the_role_follows_the_providers_groups_at_every_sign_in(client, idp):
    subject = idp.new_user("console-viewers", username="max")
    sign_in_through(client, subject)
    assert role_of(User.objects.get(username="max")) == "viewer"
    client.post(reverse("logout"))
    idp.set_user(subject, preferred_username="max", groups=["console-operators"])
    sign_in_through(client, subject)
    assert role_of(User.objects.get(username="max")) == "operator"
    assert User.objects.filter(username="max").count() == 1
    changes = AuditEntry.objects.filter(action=Action.ROLE_CHANGE, remote_id="max").order_by("id")
    assert [(c.before["role"], c.after["role"]) for c in changes] == [(None, "viewer"), ("viewer", "operator")]
    last = changes.last()
    assert last.actor_username == f"{PROVIDER_NAME} (identity provider)"
    assert "console-operators" in last.reason and PROVIDER_NAME in last.reason


def test_a_changed_username_at_the_provider_keeps_the_same_account(client, idp):
    subject = idp.new_user("console-viewers", username="kim")
    sign_in_through(client, subject)
    client.post(reverse("logout"))
    idp.set_user(subject, preferred_username="kim.lee", email="kim.lee@example.com", groups=["console-viewers"])
    sign_in_through(client, subject)
    assert signed_in_as(client) == "kim"
    assert User.objects.get(username="kim").email == "kim.lee@example.com"


def test_someone_in_no_mapped_group_is_refused_with_a_page_and_an_audit_entry(client, idp):
    subject = idp.new_user("everyone", "marketing", username="nina")
    response = sign_in_through(client, subject)
    assert response.status_code == 403
    page = response.content.decode()
    assert "none of the groups that give a role" in page and "everyone, marketing" in page
    assert signed_in_as(client) is None and not User.objects.filter(username="nina").exists()
    refused = AuditEntry.objects.get(action=Action.LOGIN_FAILED)
    assert (refused.remote_id, refused.outcome, refused.actor_username) == ("nina", "denied", "anonymous")
    assert refused.request_body["subject"] == subject and refused.request_body["groups"] == ["everyone", "marketing"]
    assert "none of the groups" in refused.error and refused.path == "GET /oidc/callback/"
    assert not AuditEntry.objects.filter(action=Action.PERMISSION_DENIED).exists()  # one entry, not two
    assert reverse("login") in client.get(reverse("slices:dashboard"))["Location"]


def test_an_auditor_sees_what_the_provider_said_of_a_refused_person(idp, admin_client):
    subject = idp.new_user("contractors", username="nina")
    sign_in_through(Client(), subject)
    refused = AuditEntry.objects.get(action=Action.LOGIN_FAILED)
    page = admin_client.get(reverse("audit:detail", args=[refused.pk])).content.decode()
    assert subject in page and "contractors" in page and "none of the groups" in page


def test_someone_dropped_from_every_group_loses_their_role_at_once(client, django_user_model, idp):
    subject = idp.new_user("console-operators", username="omar")
    other_browser = Client()
    sign_in_through(other_browser, subject)
    assert other_browser.get(reverse("slices:dashboard")).status_code == 200
    idp.set_user(subject, preferred_username="omar", groups=["alumni"])
    assert sign_in_through(client, subject).status_code == 403
    omar = django_user_model.objects.get(username="omar")
    assert role_of(omar) is None
    assert other_browser.get(reverse("slices:dashboard")).status_code == 403  # the open session can do nothing now
    removal = AuditEntry.objects.filter(action=Action.ROLE_CHANGE, remote_id="omar").latest("id")
    assert (removal.before, removal.after) == ({"role": "operator"}, {"role": None})
    assert "alumni" in removal.reason


def test_a_local_account_with_the_same_username_is_not_taken_over(client, idp, make_user):
    local = make_user("admin", "root-ops")
    subject = idp.new_user("console-viewers", username="root-ops")
    response = sign_in_through(client, subject)
    assert response.status_code == 403 and "already exists" in response.content.decode()
    assert signed_in_as(client) is None
    local.refresh_from_db()
    assert role_of(local) == "admin" and not ProviderIdentity.objects.exists()


def test_a_deactivated_user_is_refused(client, idp):
    subject = idp.new_user("console-viewers", username="dora")
    sign_in_through(client, subject)
    client.post(reverse("logout"))
    User.objects.filter(username="dora").update(is_active=False)
    response = sign_in_through(client, subject)
    assert response.status_code == 403 and "deactivated" in response.content.decode()
    assert signed_in_as(client) is None


def test_the_page_asked_for_is_kept_across_the_provider(client, idp):
    subject = idp.new_user("console-viewers")
    assert sign_in_through(client, subject, next_url="/audit/?action=login")["Location"] == "/audit/?action=login"


def test_a_next_page_elsewhere_is_not_followed(client, idp):
    subject = idp.new_user("console-viewers")
    assert sign_in_through(client, subject, next_url="https://evil.example.com/")["Location"] == reverse("home")


def test_a_signed_in_user_signing_in_again_stays_signed_in(client, idp):
    subject = idp.new_user("console-viewers", username="sam")
    sign_in_through(client, subject)
    assert callback(client, choose_identity(authorize(client), subject)).status_code == 302
    assert signed_in_as(client) == "sam"
