"""Every page that shows slices, over records full of hostile values (tests/nasty.py) cached as Kodexa would
answer them: each answers 200, escapes everything, isolates bidi text, and exports formula-safe cells."""

import csv
import io
import itertools
import json
import re

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.slices.cache import cache_records
from tests import nasty

pytestmark = pytest.mark.django_db

KINDS = {ORCHESTRATOR_SLICE: "orchestrator", EXECUTION_SLICE: "execution"}
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def records(kodexa):
    """The nasty records of both resources, in the cache; Kodexa (the sandbox) has none of them."""
    made = {resource: nasty.nasty_records(resource) for resource in nasty.RESOURCES}
    for resource, payloads in made.items():
        cache_records(resource, payloads)
    return made


def page(client, url: str, params=None, **extra) -> str:
    response = client.get(url, params or {}, **extra)
    assert response.status_code == 200, (url, params, response.status_code)
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    nasty.assert_safe_html(body)
    leaks = nasty.bidi_leaks(body)
    assert not leaks, f"bidi text not isolated on {url} {params}: {leaks[:5]}"
    return body


def detail_url(resource, record) -> str:
    return reverse("slices:detail", args=[KINDS[resource], record["id"]])


def test_the_dashboard_shows_nasty_statuses_and_errors_escaped(records, admin_client):
    body = page(admin_client, reverse("slices:dashboard"))
    assert ESCAPED_SCRIPT in body


@pytest.mark.parametrize("resource", nasty.RESOURCES, ids=lambda r: r.label)
def test_the_list_shows_every_nasty_record_escaped(records, admin_client, resource):
    url = reverse("slices:list", args=[KINDS[resource]])
    body = page(admin_client, url, {"pageSize": 200})
    assert ESCAPED_SCRIPT in body
    page(admin_client, url, {"pageSize": 200}, **HTMX)


SEARCHED = [*nasty.STRINGS.values(), *nasty.ID_STRINGS.values(), "\x00", "%", "_", "\\"]
FILTERED = [nasty.SCRIPT, nasty.TEMPLATE_SYNTAX, nasty.STRINGS["rlo"], nasty.LONG_WORD, nasty.STRINGS["control"]]
FILTERED.append("\x00")  # PostgreSQL takes no NUL in a query parameter


@pytest.mark.parametrize("resource", nasty.RESOURCES, ids=lambda r: r.label)
def test_the_list_filters_and_searches_for_nasty_values(records, admin_client, resource):
    url = reverse("slices:list", args=[KINDS[resource]])
    for value in SEARCHED:
        body = page(admin_client, url, {"q": value, "pageSize": 25}, **HTMX)
        if value == nasty.SCRIPT:
            assert "matching slice" in body and ESCAPED_SCRIPT in body
    for value in FILTERED:
        params = {"status": value, "organizationId": value, nasty.pipeline_of(resource): value}
        for name, param in params.items():
            page(admin_client, url, {name: param, "pageSize": 25}, **HTMX)
        page(admin_client, url, {**params, "q": value})  # the whole page: filters echoed in the form


def test_the_list_answers_odd_filter_values_with_a_clear_note_not_an_error(records, admin_client):
    url = reverse("slices:list", args=["orchestrator"])
    odd = ["NaN", "Infinity", "-0.0", "1e308", "2147483648", "-9223372036854775809", "1e99999", "99" * 20, "abc"]
    for value in [*odd, nasty.SCRIPT]:
        params = {name: value for name in ("attemptAtLeast", "page", "pageSize", "sort", "hasError", "leaseExpired")}
        page(admin_client, url, params, **HTMX)
    for date in nasty.DATES:
        body = page(admin_client, url, {"queuedAt_after": date, "updatedOn_before": date}, **HTMX)
        if date != "2026-01-01T00:00:00":  # a date-time without offset means UTC
            assert "Some filters were ignored" in body, date


@pytest.mark.parametrize("resource", nasty.RESOURCES, ids=lambda r: r.label)
def test_each_nasty_record_has_a_readable_detail_page(records, admin_client, resource):
    for record in records[resource]:
        body = page(admin_client, detail_url(resource, record))
        if record["errorMessage"] == nasty.SCRIPT:
            assert ESCAPED_SCRIPT in body
        if record["status"] == nasty.TEMPLATE_SYNTAX:
            assert "{{ 7|add:7 }}" in body  # shown as typed, never evaluated
        history = reverse("slices:history", args=[KINDS[resource], record["id"]])
        page(admin_client, history, **HTMX)


def test_deep_and_wide_json_render_without_recursion_errors(records, admin_client):
    for record in records[ORCHESTRATOR_SLICE]:
        if record["id"].startswith(("deep", "deeper", "wide")):
            body = page(admin_client, detail_url(ORCHESTRATOR_SLICE, record))
            if record["id"].startswith("wide"):
                assert "key-0-" in body and "more characters not shown here" in body  # cut, and says so
            else:  # the innermost value, as a JSON string, escaped
                assert "&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in body


def test_refreshing_a_deep_or_wide_record_is_audited_and_says_what_happened(records, admin_client):
    """The sandbox has none of these records: each refresh is a NotFound, audited with the deep cached copy."""
    for record in records[ORCHESTRATOR_SLICE]:
        if record["id"].startswith(("deep", "deeper", "wide", nasty.SCRIPT)):
            url = reverse("slices:refresh", args=["orchestrator", record["id"]])
            response = admin_client.post(url, follow=True)
            assert response.status_code == 200
            body = response.content.decode()
            nasty.assert_safe_html(body)
            assert "no longer has this slice" in body and not nasty.bidi_leaks(body)
            entry = AuditEntry.objects.filter(remote_id=record["id"]).get()
            assert entry.action == "refresh" and entry.outcome == "rejected"
            page(admin_client, reverse("audit:detail", args=[entry.pk]))


def test_the_edit_form_shows_nasty_values_escaped_and_inside_their_fields(records, admin_client):
    for record in records[ORCHESTRATOR_SLICE]:
        body = page(admin_client, reverse("slices:orchestrator-edit", args=[record["id"]]))
        if record["errorMessage"] == nasty.STRINGS["textarea-breakout"]:
            assert "&lt;/textarea&gt;" in body


def test_the_bulk_edit_pages_show_a_nasty_selection_escaped(records, admin_client):
    ids = [record["id"] for record in records[ORCHESTRATOR_SLICE]]
    response = admin_client.post(reverse("bulk:new"), {"scope": "ids", "ids": ids})
    assert response.status_code == 200
    nasty.assert_safe_html(response.content.decode())
    assert not nasty.bidi_leaks(response.content.decode())
    for text in (nasty.SCRIPT, nasty.STRINGS["rlo"], nasty.LONG_WORD):
        form = {"scope": "ids", "ids": ids, "step": "preview", "target_status": "PENDING", "reason": text}
        for mode in ("keep", "set"):
            response = admin_client.post(
                reverse("bulk:new"), {**form, "error_mode": mode, "error_message": text[:9000]}
            )
            assert response.status_code == 200
            body = response.content.decode()
            nasty.assert_safe_html(body)
            assert not nasty.bidi_leaks(body)
            assert "Preview" in body
    for text in (nasty.SCRIPT, nasty.STRINGS["rlo"], nasty.LONG_WORD[:2000]):
        page(admin_client, reverse("bulk:new"), {"scope": "filter", "filter": f"q={text}&status={text}"})


@pytest.fixture
def nasty_entries(records):
    """Audit entries whose snapshots, bodies, reason and request details are the nasty records and strings."""
    orchestrators = records[ORCHESTRATOR_SLICE]
    context = AuditContext(
        actor_name=nasty.STRINGS["rlo"],
        reason=nasty.SCRIPT,
        user_agent=nasty.STRINGS["img-onerror"],
        path=nasty.STRINGS["rlo"],
        ip_address="127.0.0.1",
    )
    entries = []
    chosen = orchestrators[::4] + orchestrators[-3:]  # a spread of the strings, then deep, deeper and wide
    for before, after in itertools.pairwise(chosen):
        entries.append(
            record_attempt(
                context,
                action=AuditEntry.Action.UPDATE,
                outcome=AuditEntry.Outcome.SUCCEEDED,
                resource=ORCHESTRATOR_SLICE.path,
                remote_id=before["id"],
                request_body=after,
                response_status=200,
                response_body=after,
                before=before,
                after={**after, "id": before["id"]},
            )
        )
    entries.append(
        record_attempt(
            context,
            action=AuditEntry.Action.UPDATE,
            outcome=AuditEntry.Outcome.REJECTED,
            resource=ORCHESTRATOR_SLICE.path,
            remote_id=orchestrators[0]["id"],
            request_body=orchestrators[1],
            response_status=400,
            response_body={"errors": {nasty.SCRIPT: nasty.STRINGS["rlo"]}},
            error=nasty.STRINGS["img-onerror"],
            before=orchestrators[0],
        )
    )
    return entries


def test_audit_pages_show_nasty_diffs_escaped(nasty_entries, admin_client):
    body = page(admin_client, reverse("audit:list"), {"pageSize": 200})
    assert ESCAPED_SCRIPT in body or "&lt;script" in body
    for text in (nasty.SCRIPT, nasty.STRINGS["rlo"], nasty.LONG_WORD, "\x00"):
        page(admin_client, reverse("audit:list"), {"q": text, "actor": text, "objectId": text}, **HTMX)
    for date in nasty.DATES:
        body = page(admin_client, reverse("audit:list"), {"since": date, "until": date}, **HTMX)
        assert "cannot be applied" in body
    for entry in nasty_entries:
        body = page(admin_client, reverse("audit:detail", args=[entry.pk]))
        assert len(body) < 5_000_000, (entry.remote_id[:40], len(body))


def csv_rows(response) -> list[list[str]]:
    csv.field_size_limit(10**8)  # a 10,000-key object is one wide cell
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def assert_formula_safe(rows: list[list[str]]) -> None:
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell[:80]
            assert not re.match(r"-[^0-9]", cell), cell[:80]


@pytest.mark.parametrize("resource", nasty.RESOURCES, ids=lambda r: r.label)
def test_the_csv_export_is_formula_safe_and_keeps_every_value(records, admin_client, resource):
    rows = csv_rows(admin_client.get(reverse("slices:export", args=[KINDS[resource]])))
    assert len(rows) == 1 + len(records[resource])
    assert_formula_safe(rows)
    column = rows[0].index("errorMessage")
    exported = {row[column] for row in rows[1:]}
    for record in records[resource]:
        message = record["errorMessage"]
        assert message in exported or "'" + message in exported, message[:80]
    filtered = csv_rows(admin_client.get(reverse("slices:export", args=[KINDS[resource]]), {"q": nasty.SCRIPT}))
    assert_formula_safe(filtered)


def test_the_audit_exports_are_formula_safe_and_parse(nasty_entries, admin_client):
    rows = csv_rows(admin_client.get(reverse("audit:export", args=["csv"])))
    assert len(rows) > len(nasty_entries)
    assert_formula_safe(rows)
    response = admin_client.get(reverse("audit:export", args=["jsonl"]))
    assert response.status_code == 200 and response["X-Content-Type-Options"] == "nosniff"
    text = b"".join(response.streaming_content).decode()
    assert text.count("\n") == len(text.splitlines())  # no raw U+2028, U+2029 or NEL for a line reader to split on
    documents = [json.loads(line) for line in text.splitlines()]
    assert any(document["reason"] == nasty.SCRIPT for document in documents)


@pytest.mark.parametrize("resource", nasty.RESOURCES, ids=lambda r: r.label)
def test_the_json_api_answers_nasty_records_as_json(records, api, resource):
    client = api("viewer")
    path = "orchestrator-execution-slices" if resource is ORCHESTRATOR_SLICE else "execution-slices"
    response = client.get(f"/api/v1/{path}", {"pageSize": 200})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert len(response.json()["results"]) == len(records[resource])
    for value in (nasty.SCRIPT, nasty.STRINGS["rlo"]):
        assert client.get(f"/api/v1/{path}", {"q": value}).status_code == 200
    refused = client.get(f"/api/v1/{path}", {"q": "\x00"})  # a clear field error, as JSON
    assert refused.status_code == 400 and "q" in refused.json()
