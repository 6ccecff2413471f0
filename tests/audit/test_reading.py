"""Reading the audit log: keyset pages, every filter, the entry page, exports, the JSON API."""

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.selectors import Cursor, key_path_diff, keyset_page, text_search
from tests.factories import audit_entry as add

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ORCH = "orchestrator-execution-slices"


def ids(entries) -> list[int]:
    return [e.pk for e in entries]


# --- keyset pages -----------------------------------------------------------------------------------------------
def test_walking_older_then_newer_visits_every_entry_once_in_order():
    written = [add(remote_id=f"s-{i}") for i in range(23)]
    newest_first = ids(reversed(written))
    queryset, pages, cursor = AuditEntry.objects.all(), [], Cursor()
    while True:
        page = keyset_page(queryset, cursor, size=5)
        pages.append(ids(page.entries))
        if not page.has_older:
            break
        cursor = Cursor(before=page.older_cursor)
    assert [entry_id for page in pages for entry_id in page] == newest_first
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    back = keyset_page(queryset, Cursor(after=pages[-1][0]), size=5)
    assert ids(back.entries) == pages[-2] and back.has_newer and back.has_older


def test_the_oldest_page_and_a_newer_page_near_the_top():
    written = ids(add(remote_id=f"s-{i}") for i in range(12))
    oldest = keyset_page(AuditEntry.objects.all(), Cursor(last=True), size=5)
    assert ids(oldest.entries) == written[:5][::-1] and oldest.has_newer and not oldest.has_older
    near_top = keyset_page(AuditEntry.objects.all(), Cursor(after=written[-3]), size=5)
    assert ids(near_top.entries) == written[::-1][:5] and not near_top.has_newer  # the newest page, full


def test_entries_written_in_the_same_microsecond_are_neither_skipped_nor_repeated(monkeypatch):
    moment = timezone.now()
    monkeypatch.setattr("slices_admin.audit.services.timezone.now", lambda: moment)
    written = ids(add(remote_id=f"s-{i}") for i in range(7))
    first = keyset_page(AuditEntry.objects.all(), Cursor(), size=3)
    second = keyset_page(AuditEntry.objects.all(), Cursor(before=first.older_cursor), size=3)
    third = keyset_page(AuditEntry.objects.all(), Cursor(before=second.older_cursor), size=3)
    assert ids(first.entries) + ids(second.entries) + ids(third.entries) == written[::-1]


def test_the_audit_page_never_counts_the_log(viewer_client):
    for i in range(3):
        add(remote_id=f"s-{i}")
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(
            reverse("audit:list"), {"outcome": "succeeded", "before": AuditEntry.objects.last().pk}
        )
    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "audit_auditentry" in q["sql"]]


def test_repeatable_filters_do_not_deduplicate_the_log(viewer_client):
    """Several actions or outcomes at once match each entry once: a DISTINCT over every column (JSON included)
    would read and sort all matches before the first page."""
    add(remote_id="s-1")
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(reverse("audit:list"), {"outcome": ["succeeded", "failed"], "action": ["update"]})
    assert response.status_code == 200 and "s-1" in response.content.decode()
    listed = [q["sql"] for q in queries if "audit_auditentry" in q["sql"] and "ORDER BY" in q["sql"]]
    assert listed and not [sql for sql in listed if "DISTINCT" in sql.upper()]


def test_the_trail_prints_role_changes_and_sync_sizes_without_loading_the_records(as_role):
    from slices_admin.audit.models import ACCOUNT

    add(action="role_change", resource=ACCOUNT, remote_id="bob", before={"role": "viewer"}, after={"role": "admin"})
    add(action="sync", resource=ORCH, remote_id="", response_body={"records": 5, "pages": 1})
    add(remote_id="s-9", before={"status": "RUNNING", "big": "x" * 1000}, after={"status": "FAILED"})
    client = as_role("admin")
    with CaptureQueriesContext(connection) as queries:
        body = client.get(reverse("audit:list")).content.decode()
    assert "role: viewer → admin" in body and "5 records" in body
    listed = next(q["sql"] for q in queries if "audit_auditentry" in q["sql"] and "ORDER BY" in q["sql"])
    selected = set(listed.partition(" FROM ")[0].removeprefix("SELECT ").split(", "))
    assert '"audit_auditentry"."diff"' in selected
    wide = {f'"audit_auditentry"."{name}"' for name in ("request_body", "response_body", "before", "after")}
    assert not wide & selected


def test_the_search_looks_in_every_text_of_an_entry_through_one_index():
    add(remote_id="s-1", reason="Power OUTAGE in eu-west")
    add(remote_id="s-2", actor="outagebot")
    add(remote_id="s-3", error="Bad Gateway")
    found = text_search(AuditEntry.objects.all(), "outage")
    assert sorted(found.values_list("remote_id", flat=True)) == ["s-1", "s-2"]
    if connection.vendor == "postgresql":  # the index is built from the expression the search uses
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_auditentry")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")  # left: the bitmap scans conditions can use
        assert "audit_search_trgm" in found.explain()


def test_pager_links_keep_the_filters(viewer_client):
    for i in range(30):
        add(remote_id=f"s-{i}", actor="ann")
    body = viewer_client.get(reverse("audit:list"), {"actor": "ann", "pageSize": "25"}, **HTMX).content.decode()
    assert "actor=ann&amp;pageSize=25&amp;before=" in body and "last=1" in body
    assert "Newest entries" in body  # the first page says there is nothing newer


# --- filters --------------------------------------------------------------------------------------------------
@pytest.fixture
def assorted():
    return {
        "ann-update": add(actor="ann", remote_id="s-1"),
        "bob-failed": add(actor="bob", outcome="failed", remote_id="s-2", error="Kodexa timed out"),
        "bob-create": add(actor="bob", action="create", resource="execution-slices", remote_id="e-1"),
        "bulk": add(actor="cy", remote_id="s-3", bulk_job_id=7, reason="lease expired in pipeline X"),
        "login": add(actor="ann", action="login", resource="account", remote_id="ann"),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "bob"}, ["bob-failed", "bob-create"]),
        ({"action": "create"}, ["bob-create"]),
        ({"action": ["create", "login"]}, ["bob-create", "login"]),
        ({"outcome": "failed"}, ["bob-failed"]),
        ({"resource": "execution-slices"}, ["bob-create"]),
        ({"resource": "account"}, ["login"]),
        ({"objectId": "s-2"}, ["bob-failed"]),
        ({"bulkJob": "7"}, ["bulk"]),
        ({"q": "timed out"}, ["bob-failed"]),
        ({"q": "PIPELINE x"}, ["bulk"]),
        ({"requestId": "req-e-1"}, ["bob-create"]),
        ({"actor": "ann", "resource": ORCH}, ["ann-update"]),
    ],
)
def test_each_filter_finds_exactly_its_entries(as_role, assorted, params, expected):
    response = as_role("admin").get(reverse("audit:list"), params)  # an admin: security events included
    # (leaving out the events of signing the test's own admin in)
    found = [e.pk for e in response.context["page"].entries if not e.remote_id.startswith("admin-")]
    assert sorted(found) == sorted(assorted[name].pk for name in expected)


def test_security_events_are_shown_to_administrators_only(viewer_client, assorted, api):
    login = assorted["login"]
    assert login.pk not in ids(viewer_client.get(reverse("audit:list")).context["page"].entries)
    assert viewer_client.get(reverse("audit:detail", args=[login.pk])).status_code == 404
    assert all(d["resource"] != "account" for d in api("viewer").get("/api/v1/audit").json()["results"])
    exported = b"".join(viewer_client.get(reverse("audit:export", args=["jsonl"])).streaming_content).decode()
    assert '"account"' not in exported and exported


def test_a_time_range_finds_the_entries_inside_it(viewer_client):
    add(remote_id="early")
    since = timezone.now()
    inside = add(remote_id="inside")
    until = timezone.now()
    add(remote_id="late")
    params = {"since": since.isoformat(), "until": until.isoformat()}
    assert ids(viewer_client.get(reverse("audit:list"), params).context["page"].entries) == [inside.pk]


def test_invalid_filters_are_field_errors_not_an_empty_or_broken_page(viewer_client):
    add()
    response = viewer_client.get(
        reverse("audit:list"), {"bulkJob": "seven", "since": "2026-02-01T00:00", "until": "2026-01-01"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "These filters cannot be applied" in body and "bulkJob" in body and "Must be later than From." in body
    assert response.context["page"].entries == []


# --- one entry ------------------------------------------------------------------------------------------------
def test_an_entry_page_shows_who_where_what_was_sent_and_a_key_path_diff(viewer_client):
    before = {"status": "FAILED", "inputEvent": {"retries": [1, 2], "family": "f-1"}, "errorMessage": "boom"}
    after = {"status": "PENDING", "inputEvent": {"retries": [1, 3], "family": "f-1", "note": "<script>x</script>"}}
    entry = add(
        before=before,
        after=after,
        request_body={**after, "changeSequence": 4},
        response_status=200,
        response_body=after,
        duration_ms=37,
        reason="re-queue after the outage",
    )
    response = viewer_client.get(reverse("audit:detail", args=[entry.pk]))
    body = response.content.decode()
    for text in ("10.0.0.7", "curl/8", "req-s-1", "HTTP 200", "in 37 ms", "re-queue after the outage"):
        assert text in body
    paths = {change.path: change.kind for change in response.context["changes"]}
    assert paths == {
        "status": "changed",
        "inputEvent.retries[1]": "changed",
        "inputEvent.note": "added",
        "errorMessage": "removed",
    }
    assert "&lt;script&gt;x&lt;/script&gt;" in body and "<script>x" not in body
    assert "Content matches its hash" in body


def test_a_failed_update_shows_what_it_would_have_changed(viewer_client):
    entry = add(action="patch", outcome="conflict", before={"status": "FAILED", "attemptNumber": 2},
                request_body={"status": "PENDING"}, response_status=409)  # fmt: skip
    response = viewer_client.get(reverse("audit:detail", args=[entry.pk]))
    assert "Intended change, not applied" in response.content.decode()
    assert [(c.path, c.before, c.after) for c in response.context["changes"]] == [("status", "FAILED", "PENDING")]


def test_an_entry_page_flags_an_entry_edited_behind_the_triggers(viewer_client):
    from slices_admin.audit import triggers

    entry = add()
    triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET actor_username = 'mallory' WHERE id = %s", [entry.pk])
    triggers.install(connection)
    body = viewer_client.get(reverse("audit:detail", args=[entry.pk])).content.decode()
    assert "This entry was changed after it was written." in body


def test_key_path_diff_treats_a_type_change_as_a_change():
    assert key_path_diff({"a": 1}, {"a": 1.0})[0].kind == "changed"
    assert key_path_diff({"a": [1]}, {"a": [1]}) == []


# --- exports --------------------------------------------------------------------------------------------------
def test_csv_export_holds_exactly_the_filtered_entries_and_neutralises_formulas(viewer_client, assorted):
    add(actor="bob", outcome="failed", remote_id="s-9", error='=HYPERLINK("http://evil")')
    response = viewer_client.get(reverse("audit:export", args=["csv"]), {"actor": "bob"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = AuditEntry.objects.filter(actor_username="bob").order_by("-occurred_at", "-id")
    assert [int(r["id"]) for r in rows] == ids(expected)
    assert rows[0]["error"].startswith("'=HYPERLINK")


def test_json_lines_export_carries_every_field_and_the_hashes(viewer_client, assorted):
    response = viewer_client.get(reverse("audit:export", args=["jsonl"]), {"bulkJob": "7"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    documents = [json.loads(line) for line in lines]
    assert [d["id"] for d in documents] == [assorted["bulk"].pk]
    assert documents[0]["reason"] == "lease expired in pipeline X"
    assert documents[0]["entryHash"] == assorted["bulk"].entry_hash and documents[0]["prevHash"]


def test_export_of_an_unknown_format_is_404(viewer_client):
    assert viewer_client.get("/audit/export.xlsx").status_code == 404


# --- JSON API -------------------------------------------------------------------------------------------------
def test_api_pages_follow_next_links_through_the_whole_filtered_log(api):
    written = [add(actor="ann" if i % 2 else "bob", remote_id=f"s-{i}") for i in range(11)]
    client = api("viewer")
    url, seen = "/api/v1/audit?actor=ann&pageSize=2", []
    while url:
        body = client.get(url).json()
        seen += [d["id"] for d in body["results"]]
        url = body["next"]
    assert seen == [e.pk for e in reversed(written) if e.actor_username == "ann"]


def test_api_previous_link_goes_back_a_page(api):
    for i in range(6):
        add(remote_id=f"s-{i}")
    client = api("viewer")
    first = client.get("/api/v1/audit", {"pageSize": 2, "resource": ORCH}).json()
    second = client.get(first["next"]).json()
    assert first["previous"] is None and "resource=" in second["previous"]
    assert client.get(second["previous"]).json()["results"] == first["results"]


def test_api_rejects_invalid_filters_with_field_errors(api):
    response = api("viewer").get("/api/v1/audit", {"outcome": "maybe", "since": "yesterday"})
    assert response.status_code == 400 and set(response.json()) == {"outcome", "since"}


# --- what a reader (not an administrator) is shown -------------------------------------------------------------
def test_the_actor_choices_offer_only_names_acting_in_entries_the_reader_may_see(make_user, as_role):
    make_user("viewer", "ann")  # changed a slice
    make_user("viewer", "quiet")  # only ever signed in: account entries are for administrators
    gone = make_user("viewer", "gone")
    gone.is_active = False
    gone.save()
    add(actor="ann")
    add(actor="quiet", action="login", resource="account", remote_id="quiet")
    add(actor="anonymous", action="login_failed", outcome="denied", resource="account", remote_id="x")
    reader = as_role("viewer").get(reverse("audit:list"))
    assert reader.context["actors"] == ["ann"]
    admin = as_role("admin").get(reverse("audit:list"))  # an administrator reads every entry and every account
    assert {"anonymous", "ann", "quiet", "gone"} <= set(admin.context["actors"])


def test_the_entry_page_links_a_reader_only_to_neighbours_they_may_see(as_role):
    first = add(remote_id="s-1")
    add(action="login", resource="account", remote_id="ann")  # between the two: an administrator's entry
    last = add(remote_id="s-2")
    reader = as_role("viewer")
    older = reader.get(reverse("audit:detail", args=[last.pk]))
    assert older.context["older"] == first.pk
    newer = reader.get(reverse("audit:detail", args=[first.pk]))
    assert newer.context["newer"] == last.pk
    admin = as_role("admin").get(reverse("audit:detail", args=[last.pk]))
    assert admin.context["older"] == last.pk - 1
