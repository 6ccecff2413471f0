"""The API tokens pages: create (the token shown once), list, revoke your own; admins list and revoke anyone's."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.tokens.models import APIToken
from tests.factories import api_token

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN_TEXT = re.compile(r"slc_[0-9a-f]{10}_[0-9a-f]{64}")


def create(client, name="nightly retry", expires_in="30", **extra):
    return client.post(reverse("tokens:list"), {"name": name, "expires_in": expires_in}, **extra)


def test_a_new_token_is_shown_once_and_then_only_listed(client, make_user):
    alice = make_user("viewer", "alice")
    client.force_login(alice)
    created = create(client)
    assert created.status_code == 200
    shown = TOKEN_TEXT.findall(created.content.decode())
    assert len(shown) == 1, "the answer to the creation shows the token (once)"
    token = APIToken.objects.get(user=alice)
    assert token.name == "nightly retry" and token.status == "active"
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = client.get(reverse("tokens:list")).content.decode()
    assert shown[0] not in page and not TOKEN_TEXT.search(page)
    assert "nightly retry" in page and token.shown_id in page and "never" in page  # listed: not yet used


def test_the_token_shown_signs_its_owner_in_to_the_api(client, make_user):
    client.force_login(make_user("viewer", "alice"))
    text = TOKEN_TEXT.search(create(client).content.decode()).group()
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {text}")
    assert api.get("/api/v1/audit").status_code == 200


def test_htmx_creation_swaps_in_the_panel_with_the_token(client, make_user):
    client.force_login(make_user("operator"))
    response = create(client, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="tokens-panel">')
    assert "<html" not in body and len(TOKEN_TEXT.findall(body)) == 1
    assert 'data-copy-from="new-token-text"' in body and "not shown again" in body
    assert "no-store" in response["Cache-Control"]


def test_a_token_without_a_name_or_with_an_expiry_not_offered_is_refused(client, make_user, settings):
    settings.API_TOKEN_MAX_DAYS = 90
    client.force_login(make_user("viewer"))
    nameless = create(client, name="  ", **HTMX)
    assert nameless.status_code == 400 and nameless["X-Console-Swap"] == "form"
    assert "Name the token" in nameless.content.decode()
    too_long = create(client, expires_in="365")
    assert too_long.status_code == 400 and "Select a valid choice" in too_long.content.decode()
    assert not APIToken.objects.exists() and not TOKEN_TEXT.search(too_long.content.decode())


def test_the_expiries_offered_stop_at_the_maximum_and_include_it(client, make_user, settings):
    settings.API_TOKEN_MAX_DAYS = 60
    client.force_login(make_user("viewer"))
    page = client.get(reverse("tokens:list")).content.decode()
    offered = re.findall(r'<option value="(\d+)"', page)
    assert offered == ["7", "30", "60"]
    assert create(client, expires_in="60").status_code == 200
    assert APIToken.objects.get().expires_at - timezone.now() > timedelta(days=59)


def test_a_name_is_shown_escaped(client, make_user):
    client.force_login(make_user("viewer"))
    create(client, name='<script>alert("x")</script>')
    page = client.get(reverse("tokens:list")).content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_you_revoke_your_own_token_and_it_stays_listed_as_revoked(client, make_user):
    alice = make_user("viewer", "alice")
    api_token(alice, name="old script")
    token = APIToken.objects.get(user=alice)
    client.force_login(alice)
    response = client.post(reverse("tokens:revoke", args=[token.pk]), follow=True)
    assert "Revoked the API token “old script”" in response.content.decode()
    token.refresh_from_db()
    assert token.status == "revoked" and token.revoked_by == alice
    row = re.search(rf'<tr id="token-{token.pk}">.*?</tr>', response.content.decode(), re.S).group()
    assert "Revoked" in row and "/revoke/" not in row  # no button for a revoked token


def test_someone_elses_token_is_neither_listed_nor_revocable_on_your_page(client, make_user):
    alice, bob = make_user("operator", "alice"), make_user("operator", "bob")
    api_token(bob, name="bobs deploy key")
    bobs = APIToken.objects.get(user=bob)
    client.force_login(alice)
    assert "bobs deploy key" not in client.get(reverse("tokens:list")).content.decode()
    assert client.post(reverse("tokens:revoke", args=[bobs.pk])).status_code == 404
    bobs.refresh_from_db()
    assert bobs.revoked_at is None
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.TOKEN_REVOKE).exists()


def test_an_admin_sees_everyones_active_tokens_and_revokes_one(client, make_user):
    admin, bob = make_user("admin", "root"), make_user("viewer", "bob")
    api_token(bob, name="bobs cron")
    api_token(bob, name="bobs gone")
    gone = APIToken.objects.get(name="bobs gone")
    APIToken.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(days=1))
    client.force_login(admin)
    own_page = client.get(reverse("tokens:list")).content.decode()
    assert reverse("tokens:all") in own_page and "bobs cron" not in own_page
    listing = client.get(reverse("tokens:all")).content.decode()
    assert "bobs cron" in listing and "bobs gone" not in listing and ">bob<" in listing
    assert "bobs gone" in client.get(reverse("tokens:all") + "?show=all").content.decode()
    cron = APIToken.objects.get(name="bobs cron")
    response = client.post(reverse("tokens:admin-revoke", args=[cron.pk]), follow=True)
    assert "Revoked the API token “bobs cron” of bob" in response.content.decode()
    cron.refresh_from_db()
    assert cron.status == "revoked" and cron.revoked_by == admin
    assert "bobs cron" not in client.get(reverse("tokens:all")).content.decode()


def test_only_admins_see_or_use_the_page_of_everyones_tokens(client, make_user):
    bob = make_user("viewer", "bob")
    api_token(bob)
    client.force_login(make_user("operator"))
    assert client.get(reverse("tokens:all")).status_code == 403
    token = APIToken.objects.get(user=bob)
    assert client.post(reverse("tokens:admin-revoke", args=[token.pk])).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert reverse("tokens:all") not in client.get(reverse("tokens:list")).content.decode()


def test_revoking_twice_says_so_and_audits_once(client, make_user):
    alice = make_user("viewer")
    api_token(alice)
    token = APIToken.objects.get(user=alice)
    client.force_login(alice)
    client.post(reverse("tokens:revoke", args=[token.pk]))
    again = client.post(reverse("tokens:revoke", args=[token.pk]), follow=True)
    assert "was already revoked" in again.content.decode()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.TOKEN_REVOKE).count() == 1


def test_the_header_links_to_the_tokens_page(client, make_user):
    client.force_login(make_user("viewer"))
    page = client.get(reverse("slices:dashboard")).content.decode()
    assert f'href="{reverse("tokens:list")}"' in page


def test_a_user_without_a_role_gets_no_tokens(client, make_user, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    assert create(client).status_code == 403
    assert not APIToken.objects.exists()
