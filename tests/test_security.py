"""Security properties that cut across pages and the API: the key, CSP, CSRF, roles, sessions."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from tests.factories import cache_orchestrator, execution_record, orchestrator_record

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ECHOED_KEY = "kx-echoed-secret-0123456789abcdef"


@pytest.fixture
def kodexa_echoing_the_key(scripted, settings):
    """A Kodexa that refuses the key and repeats it in its answer, as some gateways do."""
    settings.KODEXA_BASE_URL = scripted.url
    settings.KODEXA_API_KEY = ECHOED_KEY
    settings.KODEXA_MAX_RETRIES = 0
    for _ in range(4):
        scripted.answer(401, {"message": f"API key {ECHOED_KEY} is not valid", "key": ECHOED_KEY})
    return scripted


def test_a_key_kodexa_echoes_never_reaches_an_api_client(kodexa_echoing_the_key, api):
    response = api("operator").post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    assert response.status_code == 502
    assert ECHOED_KEY not in response.content.decode()
    entry = AuditEntry.objects.slice_changes().get()
    assert ECHOED_KEY not in str([entry.error, entry.response_body, entry.request_body])


def test_a_key_kodexa_echoes_never_reaches_a_page(kodexa_echoing_the_key, client, make_user):
    client.force_login(make_user("operator"))
    response = client.post(reverse("slices:execution-create"), {"status": "PENDING"}, **HTMX)
    body = response.content.decode()
    assert "refused the console" in body and ECHOED_KEY not in body
    record = cache_orchestrator(orchestrator_record())[0]
    refreshed = client.post(reverse("slices:refresh", args=["orchestrator", record["id"]]), follow=True)
    assert ECHOED_KEY not in refreshed.content.decode()


def main_pages() -> list[str]:
    orchestrator = cache_orchestrator(orchestrator_record(id="a/b ✓", errorMessage="<script>x</script>"))[0]
    from slices_admin.kodexa.contract import EXECUTION_SLICE
    from slices_admin.slices.cache import cache_records

    cache_records(EXECUTION_SLICE, [execution_record(id="exec/1")])
    return [
        reverse("slices:dashboard"),
        reverse("slices:list", args=["orchestrator"]),
        reverse("slices:list", args=["execution"]),
        reverse("slices:detail", args=["orchestrator", orchestrator["id"]]),
        reverse("slices:detail", args=["execution", "exec/1"]),
        reverse("slices:execution-create"),
        reverse("slices:orchestrator-edit", args=[orchestrator["id"]]),
        reverse("audit:list"),
        reverse("tokens:list"),
    ]


def test_every_main_page_sends_a_strict_csp_and_has_no_inline_code_or_style(kodexa, operator_client):
    for url in [*main_pages(), "logged out: " + reverse("login")]:
        if url.startswith("logged out: "):
            url = url.removeprefix("logged out: ")
            operator_client.logout()
        response = operator_client.get(url)
        assert response.status_code == 200, url
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp, url
        body = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), f"inline script on {url}"
        assert not re.search(r"\sstyle\s*=", body), f"inline style on {url}"
        assert not re.search(r"\son[a-z]+\s*=", body), f"inline event handler on {url}"
        assert "<script>x</script>" not in body, url


def test_ids_with_slashes_and_unicode_link_to_their_pages(operator_client):
    main_pages()
    listing = operator_client.get(reverse("slices:list", args=["orchestrator"])).content.decode()
    url = reverse("slices:detail", args=["orchestrator", "a/b ✓"])
    assert f'href="{url}"' in listing
    assert operator_client.get(url).status_code == 200
    assert operator_client.get(reverse("slices:detail", args=["execution", "exec/1"])).status_code == 200


def test_htmx_posts_carry_the_csrf_token_the_page_puts_in_hx_headers(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    page = client.get(reverse("slices:execution-create")).content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    url = reverse("slices:execution-create")
    refused = client.post(url, {"status": "PENDING", "_validate": "1"}, **HTMX)
    accepted = client.post(url, {"status": "PENDING", "_validate": "1"}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert refused.status_code == 403
    assert accepted.status_code == 200


def test_an_expired_session_sends_htmx_to_the_login_page_whole(client):
    response = client.get(reverse("slices:list", args=["orchestrator"]), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_a_user_without_a_role_can_read_nothing(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    record = cache_orchestrator(orchestrator_record())[0]
    for url in [
        reverse("slices:dashboard"),
        reverse("slices:list", args=["orchestrator"]),
        reverse("slices:detail", args=["orchestrator", record["id"]]),
        reverse("slices:export", args=["orchestrator"]),
        reverse("audit:list"),
    ]:
        assert client.get(url).status_code == 403, url


def test_a_saved_view_cannot_be_taken_over_by_name(client, make_user):
    from slices_admin.slices.models import SavedView

    owner, other = make_user("operator"), make_user("viewer")
    SavedView.objects.create(kind="orchestrator", name="Stuck", query="leaseExpired=true", created_by=owner)
    client.force_login(other)
    client.post(reverse("slices:saved-view-create", args=["orchestrator"]), {"name": "Stuck", "query": "status=X"})
    view = SavedView.objects.get()
    assert (view.query, view.created_by) == ("leaseExpired=true", owner)
    delete = client.post(reverse("slices:saved-view-delete", args=[view.pk]))
    assert delete.status_code == 403 and SavedView.objects.exists()
