"""Every token action is an audit entry (created, revoked by its owner or an admin, refused after its end), and the
entries of API calls name the token used, in the hashed `credential` of chain version 2."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from slices_admin.audit.models import AuditEntry
from slices_admin.tokens.models import APIToken
from tests.factories import api_token

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
ORCH = "/api/v1/orchestrator-execution-slices"


def client_with(text: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {text}")
    return client


def assert_chain_verifies() -> None:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_creating_a_token_on_the_page_is_audited_without_the_token(client, make_user):
    alice = make_user("viewer", "alice")
    client.force_login(alice)
    page = client.post("/tokens/", {"name": "deploy", "expires_in": "7"}).content.decode()
    token = APIToken.objects.get()
    entry = AuditEntry.objects.get(action=Action.TOKEN_CREATE)
    assert (entry.actor_username, entry.remote_id, entry.outcome) == ("alice", "alice", "succeeded")
    assert entry.after["tokenId"] == token.pk and entry.after["name"] == "deploy"
    assert entry.after["expiresAt"] == token.expires_at.isoformat() and entry.credential is None
    text = next(word for word in page.split(">") if word.startswith("slc_")).split("<")[0]
    stored = repr(AuditEntry.objects.values().get(pk=entry.pk))
    assert text.startswith("slc_") and text not in stored and text.rsplit("_", 1)[1] not in stored
    assert entry in AuditEntry.objects.security_events()  # shown to administrators only


def test_revoking_your_own_token_and_an_admins_revoking_another_are_both_audited(client, make_user):
    alice, admin = make_user("viewer", "alice"), make_user("admin", "root")
    api_token(alice, name="first")
    api_token(alice, name="second")
    first, second = APIToken.objects.get(name="first"), APIToken.objects.get(name="second")
    client.force_login(alice)
    client.post(f"/tokens/{first.pk}/revoke/")
    client.force_login(admin)
    client.post(f"/tokens/all/{second.pk}/revoke/")
    own, by_admin = AuditEntry.objects.filter(action=Action.TOKEN_REVOKE).order_by("id")
    assert (own.actor_username, own.remote_id, own.error) == ("alice", "alice", "")
    assert own.before["revokedAt"] is None and own.after["revokedAt"] is not None
    assert own.after["tokenId"] == first.pk
    assert (by_admin.actor_username, by_admin.remote_id) == ("root", "alice")
    assert by_admin.after["tokenId"] == second.pk and "administrator (root)" in by_admin.error
    assert_chain_verifies()


def test_an_expired_tokens_use_is_audited_once_an_hour_naming_the_token(make_user):
    user = make_user("operator", "carol")
    text = api_token(user, name="stale cron")
    APIToken.objects.update(expires_at=timezone.now() - timedelta(days=1))
    api = client_with(text)
    for _ in range(4):
        assert api.get("/api/v1/audit", REMOTE_ADDR="10.9.8.7").status_code == 401
    entry = AuditEntry.objects.get(action=Action.TOKEN_REFUSED)
    token = APIToken.objects.get()
    assert (entry.actor_username, entry.remote_id, entry.outcome) == ("anonymous", "carol", "denied")
    assert entry.credential == token.credential and "stale cron" in entry.credential
    assert "expired on" in entry.error and entry.ip_address == "10.9.8.7" and entry.path == "GET /api/v1/audit"
    assert text not in repr(AuditEntry.objects.values().get(pk=entry.pk))


def test_a_revoked_tokens_use_is_audited_too(make_user):
    user = make_user("operator")
    text = api_token(user)
    APIToken.objects.update(revoked_at=timezone.now())
    client_with(text).get("/api/v1/audit")
    assert "was revoked on" in AuditEntry.objects.get(action=Action.TOKEN_REFUSED).error


def test_a_change_made_through_the_api_names_the_token_in_its_entry(kodexa, make_user):
    record = kodexa.new_orchestrator_slice(status="FAILED")
    text = api_token(make_user("operator", "dana"), name="retry bot")
    token = APIToken.objects.get()
    response = client_with(text).patch(f"{ORCH}/{record['id']}", {"status": "PENDING"}, format="json")
    assert response.status_code == 200, response.json()
    entry = AuditEntry.objects.get(action=Action.PATCH, remote_id=record["id"])
    assert entry.actor_username == "dana" and entry.chain_version == 2
    assert entry.credential == f"API token {token.pk} “retry bot” ({token.shown_id})"
    assert text not in entry.credential and token.shown_id.rstrip("…") in text
    assert_chain_verifies()


def test_a_refusal_of_a_tokens_request_names_the_token(make_user):
    text = api_token(make_user("viewer"), name="read only")
    body = {"ids": ["x"], "targetStatus": "PENDING", "reason": "r"}
    assert client_with(text).post("/api/v1/bulk-edits", body, format="json").status_code == 403
    denied = AuditEntry.objects.get(action=Action.PERMISSION_DENIED)
    assert denied.credential == APIToken.objects.get().credential


def test_the_same_change_from_a_browser_session_names_no_credential(kodexa, client, make_user):
    record = kodexa.new_orchestrator_slice(status="FAILED")
    client.force_login(make_user("operator"))
    response = client.patch(f"{ORCH}/{record['id']}", {"status": "PENDING"}, content_type="application/json")
    assert response.status_code == 200
    assert AuditEntry.objects.get(action=Action.PATCH, remote_id=record["id"]).credential is None


def test_the_audit_entry_page_shows_the_credential(client, make_user):
    text = api_token(make_user("viewer"), name="page check")
    client_with(text).post("/api/v1/bulk-edits", {}, format="json")  # refused: a viewer's write
    denied = AuditEntry.objects.get(action=Action.PERMISSION_DENIED)
    client.force_login(make_user("admin"))
    page = client.get(f"/audit/{denied.pk}/").content.decode()
    assert "Credential" in page and "“page check”" in page and text not in page
