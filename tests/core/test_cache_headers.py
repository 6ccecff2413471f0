"""What a browser or proxy may keep: nothing a signed-in person sees (pages, fragments, API answers, exports), while
static files keep their long cache."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import api_token, cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def assert_not_kept(response, what: str) -> None:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= directives, (what, response.get("Cache-Control"))
    assert "public" not in directives, what


def test_signed_in_pages_and_fragments_are_not_kept(as_role):
    record = cache_orchestrator(orchestrator_record())[0]
    client = as_role("admin")
    for url in [
        reverse("slices:dashboard"),
        reverse("slices:list", args=["orchestrator"]),
        reverse("slices:detail", args=["orchestrator", record["id"]]),
        reverse("audit:list"),
        reverse("bulk:list"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_not_kept(response, url)
    assert_not_kept(client.get(reverse("slices:list", args=["orchestrator"]), **HTMX), "list fragment")


def test_exports_are_not_kept(as_role):
    cache_orchestrator(orchestrator_record())
    client = as_role("viewer")
    for url in [
        reverse("slices:export", args=["orchestrator"]),
        reverse("audit:export", args=["csv"]),
        reverse("audit:export", args=["jsonl"]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_not_kept(response, url)


def test_api_answers_are_not_kept(make_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(make_user('viewer'))}")
    for url in ["/api/v1/orchestrator-execution-slices", "/api/v1/audit", "/api/v1/bulk-edits"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_not_kept(response, url)
    assert_not_kept(APIClient().get("/api/v1/audit"), "a refusal")


def test_the_sign_in_page_is_not_kept(client):
    assert_not_kept(client.get(reverse("login")), "login")


def test_static_files_keep_their_cache(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
