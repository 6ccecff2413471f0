"""Personal tokens at the JSON API: stored hashed, refused once expired or revoked (401 saying why), carrying their
user's role, and noting their last use at most once a minute."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from slices_admin.tokens import keys
from slices_admin.tokens.models import APIToken
from tests.factories import api_token

pytestmark = pytest.mark.django_db


def client_with(text: str, scheme: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {text}")
    return client


def every_stored_value() -> str:
    """Every row of every table, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows.extend(map(repr, cursor.fetchall()))
    return "\n".join(rows)


def test_the_token_is_nowhere_in_the_database_only_its_digest(make_user):
    text = api_token(make_user("operator"))
    client_with(text).get("/api/v1/audit")  # used once: last use and any audit entries written too
    secret = text.rsplit("_", 1)[1]
    stored = every_stored_value()
    assert text not in stored and secret not in stored and secret[:16] not in stored
    token = APIToken.objects.get()
    assert token.digest == hashlib.sha256(text.encode()).hexdigest()
    assert text.startswith(f"{keys.PREFIX}{token.key_id}_") and len(secret) == 64


def test_token_and_bearer_schemes_both_sign_in(make_user):
    text = api_token(make_user("viewer"))
    assert client_with(text).get("/api/v1/audit").status_code == 200
    assert client_with(text, "Bearer").get("/api/v1/audit").status_code == 200
    assert client_with(text, "bearer").get("/api/v1/audit").status_code == 200


def test_an_unknown_or_altered_token_is_refused_with_401_and_the_token_scheme(make_user):
    text = api_token(make_user("viewer"))
    altered = text[:-1] + ("0" if text[-1] != "0" else "1")
    for presented in (altered, "slc_nope", "x" * 500, text + "0"):
        response = client_with(presented).get("/api/v1/audit")
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
        assert "Invalid token" in response.json()["detail"]
    malformed = client_with(f"{text} extra").get("/api/v1/audit")
    assert malformed.status_code == 401 and "one token, no spaces" in malformed.json()["detail"]


def test_an_expired_token_is_refused_with_401_saying_since_when(make_user):
    text = api_token(make_user("operator"), name="weekly report")
    ended = timezone.now() - timedelta(minutes=5)
    APIToken.objects.update(expires_at=ended)
    response = client_with(text).get("/api/v1/audit")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    detail = response.json()["detail"]
    assert f"(“weekly report”) expired on {ended:%Y-%m-%d %H:%M} UTC" in detail and "/tokens/" in detail
    assert text not in detail


def test_a_revoked_token_is_refused_with_401_saying_so(client, make_user):
    alice = make_user("operator")
    text = api_token(alice, name="ci")
    api = client_with(text)
    assert api.get("/api/v1/audit").status_code == 200
    client.force_login(alice)
    client.post(f"/tokens/{APIToken.objects.get().pk}/revoke/")
    response = api.get("/api/v1/audit")
    assert response.status_code == 401 and "(“ci”) was revoked on" in response.json()["detail"]


def test_a_token_of_a_disabled_account_is_refused(make_user):
    user = make_user("operator")
    text = api_token(user)
    user.is_active = False
    user.save()
    response = client_with(text).get("/api/v1/audit")
    assert response.status_code == 401 and "disabled" in response.json()["detail"]


def test_a_token_carries_its_users_role(make_user):
    body = {"filter": {"status": ["FAILED"]}, "targetStatus": "PENDING", "reason": "token role", "dryRun": True}
    viewer = client_with(api_token(make_user("viewer")))
    assert viewer.get("/api/v1/bulk-edits").status_code == 200
    refused = viewer.post("/api/v1/bulk-edits", body, format="json")
    assert refused.status_code == 403 and refused.json()["detail"] == "Your role does not allow this."
    operator = client_with(api_token(make_user("operator")))
    assert operator.post("/api/v1/bulk-edits", body, format="json").status_code not in (401, 403)


def token_writes(queries) -> list[str]:
    table = APIToken._meta.db_table
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and table in q["sql"]]


def test_last_use_is_noted_at_most_once_a_minute(make_user):
    text = api_token(make_user("viewer"))
    api = client_with(text)
    assert APIToken.objects.get().last_used_at is None
    before = timezone.now()
    api.get("/api/v1/audit")
    first = APIToken.objects.get().last_used_at
    assert first is not None and first >= before
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert api.get("/api/v1/audit").status_code == 200
    assert token_writes(queries.captured_queries) == []
    assert APIToken.objects.get().last_used_at == first
    APIToken.objects.update(last_used_at=first - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/audit")
    assert len(token_writes(queries.captured_queries)) == 1
    assert APIToken.objects.get().last_used_at > first


def test_a_signed_in_browser_needs_no_token(client, make_user):
    client.force_login(make_user("viewer"))
    assert client.get("/api/v1/audit").status_code == 200
