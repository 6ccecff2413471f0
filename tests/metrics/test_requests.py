"""Requests counted and timed by the view that answered them, never by the path a client sent."""

import pytest

from tests.factories import cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db

REQUESTS = "slices_console_http_requests_total"
DURATION = "slices_console_http_request_duration_seconds_count"


def test_a_page_is_counted_by_its_url_name_method_and_status(scrape, viewer_client):
    before = scrape()
    assert viewer_client.get("/slices/orchestrator/").status_code == 200
    assert viewer_client.post("/slices/orchestrator/").status_code == 405
    after = scrape()
    for status in ("200", "405"):
        method = "GET" if status == "200" else "POST"
        labels = {"view": "slices:list", "method": method, "status": status}
        assert after.total(REQUESTS, **labels) == before.total(REQUESTS, **labels) + 1
    assert after.total(DURATION, view="slices:list", method="GET") == before.total(DURATION, view="slices:list") + 1


def test_ids_and_made_up_paths_never_become_labels(scrape, viewer_client):
    (record,) = cache_orchestrator(orchestrator_record())
    before = scrape()
    assert viewer_client.get(f"/slices/orchestrator/{record['id']}/").status_code == 200
    assert viewer_client.get("/made-up-path-4f1c9e/").status_code == 404
    after = scrape()
    assert record["id"] not in after.text and "made-up-path-4f1c9e" not in after.text
    assert (
        after.total(REQUESTS, view="slices:detail", status="200")
        == before.total(REQUESTS, view="slices:detail", status="200") + 1
    )
    assert (
        after.total(REQUESTS, view="(no view)", status="404")
        == before.total(REQUESTS, view="(no view)", status="404") + 1
    )


def test_a_pattern_without_a_name_is_counted_by_its_route(scrape, admin_client):
    before = scrape()
    admin_client.get("/admin/no-such-admin-page-b7/")
    after = scrape()
    new = {
        labels["view"]
        for labels, value in after.matching(REQUESTS)
        if value > before.total(REQUESTS, **labels) and labels["view"].startswith("admin/")
    }
    assert new and all("no-such-admin-page" not in view and "(?P<url>" in view for view in new), new


def test_static_files_and_odd_methods_are_counted_without_a_view(scrape, client):
    before = scrape()
    assert client.get("/static/css/app.css").status_code == 200
    client.generic("BREW", "/healthz")
    after = scrape()
    assert after.total(REQUESTS, view="(static)", method="GET") == before.total(REQUESTS, view="(static)") + 1
    assert (
        after.total(REQUESTS, view="healthz", method="other", status="405")
        == before.total(REQUESTS, view="healthz", method="other") + 1
    )
    assert "BREW" not in after.text
