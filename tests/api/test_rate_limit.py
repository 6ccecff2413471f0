"""The JSON API's rate limit: per token (or per signed-in user), shared by every web process, answered 429 with
Retry-After, and audited once per window."""

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from slices_admin.audit.models import AuditEntry
from tests.factories import api_token

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.API_RATE_LIMIT = f"{LIMIT}/min"


def token_client(user) -> tuple[APIClient, str]:
    client = APIClient()
    key = api_token(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, key


def test_requests_over_the_limit_are_refused_with_429_and_retry_after(make_user):
    client, _key = token_client(make_user("viewer"))
    for _ in range(LIMIT):
        assert client.get("/api/v1/audit").status_code == 200
    refused = client.get("/api/v1/audit")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert f"at most {LIMIT}/min" in refused.json()["detail"]
    assert refused["Cache-Control"].count("no-store") == 1


def test_the_first_refusal_of_a_window_is_audited_once_without_the_token(make_user):
    user = make_user("operator")
    client, key = token_client(user)
    for _ in range(LIMIT + 3):
        client.get("/api/v1/audit")
    entry = AuditEntry.objects.get(action=AuditEntry.Action.RATE_LIMITED)
    assert (entry.actor_username, entry.outcome, entry.remote_id) == (user.username, "denied", user.username)
    assert f"{LIMIT}/min" in entry.error and key not in entry.error and key not in str(entry.path)
    assert AuditEntry.objects.security_events().filter(pk=entry.pk).exists()  # for administrators only


def test_each_token_has_its_own_count(make_user):
    first, _ = token_client(make_user("viewer"))
    second, _ = token_client(make_user("viewer"))
    for _ in range(LIMIT + 1):
        first.get("/api/v1/audit")
    assert first.get("/api/v1/audit").status_code == 429
    assert second.get("/api/v1/audit").status_code == 200


def test_the_count_lives_in_the_shared_database_cache(make_user):
    """Several gunicorn processes must count together: the counts are in a database table, not process memory."""
    client, _key = token_client(make_user("viewer"))
    client.get("/api/v1/audit")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM console_cache")
        assert cursor.fetchone()[0] >= 1
    caches["throttle"].clear()
    for _ in range(LIMIT):
        assert client.get("/api/v1/audit").status_code == 200


def test_a_browser_session_is_limited_per_user(client, make_user):
    client.force_login(make_user("viewer"))
    for _ in range(LIMIT):
        assert client.get("/api/v1/audit").status_code == 200
    assert client.get("/api/v1/audit").status_code == 429


def test_an_empty_setting_means_no_limit(make_user, settings):
    settings.API_RATE_LIMIT = ""
    client, _key = token_client(make_user("viewer"))
    for _ in range(LIMIT * 3):
        assert client.get("/api/v1/audit").status_code == 200
