"""What a bulk edit did: the before → after table, the throughput chart, and the items as CSV and JSON Lines."""

import csv
import datetime as dt
import io
import json
import math
import re
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

from slices_admin.bulk import exports
from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.bulk.report import bin_width, outcome_matrix, throughput
from tests.factories import audit_entry

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


def job_with(*items: dict, target="PENDING", state="finished", minutes=10, **fields) -> BulkEditJob:
    """A job that ran from T0 for `minutes`, with one item per dict (`slice_id`, `state`, … as on the model)."""
    finished = T0 + dt.timedelta(minutes=minutes) if state in BulkEditJob.ENDED else None
    job = BulkEditJob.objects.create(
        selection={"filter": "status=FAILED"}, target_status=target, reason="re-queue after the outage",
        concurrency=4, state=state, started_at=T0, finished_at=finished, **fields,
    )  # fmt: skip
    BulkEditItem.objects.bulk_create(
        BulkEditItem(job=job, **{"slice_id": f"s-{n}", "before_status": "FAILED", **item})
        for n, item in enumerate(items)
    )
    return job


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def done(state: str, seconds: float = 30, **fields) -> dict:
    return {"state": state, "finished_at": at(seconds), **fields}


def grid(matrix) -> dict[str, dict[str, int]]:
    """The table as {"BEFORE → AFTER": {outcome: count}}, zero cells left out."""
    return {
        f"{row.before} → {row.after}": {cell.column.state: cell.count for cell in row.cells if cell.count}
        for row in matrix.rows
    }


# --- before → after --------------------------------------------------------------------------------------------------
def test_the_table_counts_slices_by_their_status_before_and_the_outcome():
    job = job_with(
        *[done("succeeded")] * 3, done("failed"), done("conflict", before_status="CANCELLED"),
        done("conflict", before_status="CANCELLED"), done("skipped", before_status=""),
    )  # fmt: skip
    matrix = outcome_matrix(job)
    assert grid(matrix) == {
        "FAILED → PENDING": {"succeeded": 3, "failed": 1},
        "CANCELLED → PENDING": {"conflict": 2},
        "? → PENDING": {"skipped": 1},
    }
    assert [c.state for c in matrix.columns] == ["succeeded", "failed", "conflict", "skipped", "cancelled"]
    assert matrix.totals == (3, 1, 2, 1, 0) and matrix.total == 7
    assert [row.total for row in matrix.rows] == [4, 2, 1]


def test_each_row_reads_as_a_sentence_of_its_outcomes():
    job = job_with(*[done("succeeded")] * 120, *[done("failed")] * 3, done("conflict"))
    assert outcome_matrix(job).rows[0].summary == "120 succeeded, 3 failed, 1 conflict"


def test_an_undos_items_count_under_the_status_each_puts_back():
    job = job_with(
        done("succeeded", before_status="PENDING", target_status="FAILED"),
        done("succeeded", before_status="PENDING", target_status="FAILED"),
        done("conflict", before_status="PENDING", target_status="CANCELLED"),
        target="",
    )
    assert grid(outcome_matrix(job)) == {"PENDING → FAILED": {"succeeded": 2}, "PENDING → CANCELLED": {"conflict": 1}}


def test_an_item_with_its_own_target_in_a_job_with_one_counts_under_its_own():
    job = job_with(done("succeeded"), done("succeeded", target_status="CANCELLED"))
    assert grid(outcome_matrix(job)) == {"FAILED → PENDING": {"succeeded": 1}, "FAILED → CANCELLED": {"succeeded": 1}}


def test_a_running_job_has_columns_for_the_items_still_to_send():
    job = job_with(done("succeeded"), {"state": "pending"}, {"state": "in_flight"}, state="running")
    matrix = outcome_matrix(job)
    assert [c.state for c in matrix.columns][-2:] == ["pending", "in_flight"]
    assert grid(matrix) == {"FAILED → PENDING": {"succeeded": 1, "pending": 1, "in_flight": 1}}
    assert matrix.rows[0].summary == "1 succeeded, 1 pending, 1 in flight"


def test_the_table_is_one_query_however_many_statuses(django_assert_num_queries):
    job = job_with(*(done(s, before_status=b) for s in ("succeeded", "failed") for b in ("A", "B", "C", "")))
    with django_assert_num_queries(1):
        assert outcome_matrix(job).total == 8


# --- throughput ------------------------------------------------------------------------------------------------------
SPANS = {
    "7 s": dt.timedelta(seconds=7), "13 s": dt.timedelta(seconds=13), "121 s": dt.timedelta(seconds=121),
    "10 min": dt.timedelta(minutes=10), "61 min": dt.timedelta(minutes=61), "3 h": dt.timedelta(hours=3),
    "2 days": dt.timedelta(days=2), "130 days": dt.timedelta(days=130), "5 years": dt.timedelta(days=1826),
}  # fmt: skip


@pytest.mark.parametrize("span", SPANS.values(), ids=SPANS.keys())
def test_a_job_is_drawn_in_25_to_60_bins_of_a_width_that_reads_well(span):
    assert 25 <= math.ceil(span / bin_width(span)) <= 60


def test_the_chart_bins_add_up_to_the_items_sent_and_answered():
    job = job_with(
        done("succeeded", 0), done("succeeded", 5), done("succeeded", 95), done("failed", 95), done("conflict", 99),
        done("succeeded", 599), done("succeeded", -3), done("failed", 605),  # a clock's skew either side of the span
        done("cancelled", 100), done("skipped", 100), {"state": "pending"},  # not sent: not throughput
    )  # fmt: skip
    chart = throughput(job)
    assert chart.width == dt.timedelta(seconds=10) and len(chart.bins) == 60
    assert (chart.succeeded, chart.failures, chart.finished) == (5, 3, 8)
    assert sum(b.succeeded + b.failed + b.conflict for b in chart.bins) == 8
    first, tenth, last = chart.bins[0], chart.bins[9], chart.bins[-1]
    assert (first.start, first.succeeded) == (T0, 3)
    assert (tenth.start, tenth.succeeded, tenth.failed, tenth.conflict) == (at(90), 1, 1, 1)
    assert (last.end, last.succeeded, last.failed) == (at(600), 1, 1)


def test_the_chart_is_one_query(django_assert_num_queries):
    job = job_with(*(done("succeeded", s) for s in range(0, 600, 7)))
    with django_assert_num_queries(1):
        assert throughput(job).succeeded == len(range(0, 600, 7))


def test_a_running_jobs_chart_runs_to_now():
    job = job_with(done("succeeded", 20), {"state": "pending"}, state="running")
    chart = throughput(job, now=at(120))
    assert chart.end == at(120) and chart.width == dt.timedelta(seconds=2) and chart.bins[10].succeeded == 1


def test_the_bars_and_line_share_one_scale_and_stay_in_the_drawing():
    job = job_with(*[done("succeeded", 10)] * 4, *[done("failed", 10)] * 2, done("succeeded", 300))
    chart = throughput(job)
    tallest, short = sorted(chart.bars, key=lambda bar: float(bar.height), reverse=True)
    assert float(tallest.height) == pytest.approx(4 * float(short.height), abs=0.2)
    assert float(tallest.y) == chart.top and chart.peak == 4
    points = [tuple(map(float, p.split(","))) for p in chart.failure_points.split()]
    lowest = min(y for _, y in points)
    assert len(points) == 60 and lowest == pytest.approx(chart.baseline - 2 * float(short.height), abs=0.2)
    assert all(chart.left <= x <= chart.right and chart.top <= y <= chart.baseline for x, y in points)


# --- the page --------------------------------------------------------------------------------------------------------
def test_the_job_page_shows_what_the_edit_did_with_a_chart_a_screen_reader_can_read(viewer_client):
    job = job_with(*[done("succeeded", 40)] * 3, done("failed", 70), done("conflict", 70, before_status=""))
    body = viewer_client.get(reverse("bulk:detail", args=[job.pk])).content.decode()
    assert "<bdi>FAILED</bdi> → <bdi>PENDING</bdi>: 3 succeeded, 1 failed</li>" in body
    assert '<th scope="row"><bdi>?</bdi> → <bdi>PENDING</bdi></th>' in body
    assert '<th scope="col" class="col-number">Conflict</th>' in body and '<th scope="row">Total</th>' in body
    svg = re.search(r"<svg .*?</svg>", body, re.S).group(0)
    assert 'role="img" aria-labelledby="job-chart-title" aria-describedby="job-chart-desc"' in svg
    assert f'<title id="job-chart-title">Slices finished per 10 s during bulk edit {job.pk}</title>' in svg
    assert '<desc id="job-chart-desc">' in svg and svg.count('<rect class="chart-succeeded"') == 1
    assert "fill=" not in svg and "style" not in svg  # colours come from the stylesheet, dark mode included
    figures = re.search(r"<details>\s*<summary>The chart's figures</summary>.*?</details>", body, re.S).group(0)
    assert figures.count('<th scope="row">') == 60
    span = r"09:00:40</time>\u2013<time [^>]*>09:00:50</time></th>"
    assert re.search(span + r"<td[^>]*>3</td><td[^>]*>0</td><td[^>]*>0</td>", figures)
    assert reverse("bulk:items-export", args=[job.pk, "csv"]) in body
    assert reverse("bulk:items-export", args=[job.pk, "jsonl"]) in body
    assert not re.search(r"\sstyle\s*=", body) and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)


def test_a_job_that_has_not_started_shows_no_report(viewer_client):
    job = job_with({"state": "pending"}, state="queued")
    BulkEditJob.objects.filter(pk=job.pk).update(started_at=None)
    body = viewer_client.get(reverse("bulk:detail", args=[job.pk])).content.decode()
    assert "What the edit did" not in body and 'id="job-progress"' in body


def test_a_started_job_with_nothing_answered_yet_says_so(viewer_client):
    job = job_with({"state": "pending"}, state="running")
    body = viewer_client.get(reverse("bulk:detail", args=[job.pk])).content.decode()
    assert "What the edit did" in body and "No slice has been sent and answered yet." in body and "<svg" not in body


def test_the_items_fragment_reads_no_report(viewer_client):
    job = job_with(done("succeeded"))
    with CaptureQueriesContext(connection) as queries:
        body = viewer_client.get(reverse("bulk:detail", args=[job.pk]) + "?page=1", **HTMX).content.decode()
    assert "What the edit did" not in body and "<table" in body
    assert not [q for q in queries if "GROUP BY" in q["sql"] and "before_status" in q["sql"]]


# --- the downloads ---------------------------------------------------------------------------------------------------
def download(client, job, export_format: str):
    return client.get(reverse("bulk:items-export", args=[job.pk, export_format]))


def content(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def edited() -> BulkEditJob:
    """One item of each kind the after status tells apart, and audit entries for two of them (one item tried twice;
    another job's entry for the same slice)."""
    job = job_with(
        done("succeeded", attempts=2, status_code=200),
        done("succeeded", before_status="", target_status="CANCELLED", attempts=1, status_code=200),
        done("conflict", current_status="RUNNING", attempts=1, status_code=409, message="changeSequence 4 is stale"),
        done("failed", attempts=3, status_code=500, message='=HYPERLINK("http://x","click"), then "more"'),
        {"state": "pending", "slice_id": "@SUM(1+1)"},
    )
    audit_entry(remote_id="s-0", bulk_job_id=job.pk, response_status=503, outcome="failed")
    audit_entry(remote_id="s-0", bulk_job_id=job.pk, response_status=200)
    audit_entry(remote_id="s-3", bulk_job_id=job.pk + 1000)
    return job


def test_the_csv_has_a_row_per_item_with_its_status_before_and_after(viewer_client, edited):
    response = download(viewer_client, edited, "csv")
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(rf'attachment; filename="bulk-edit-{edited.pk}-items-\d{{8}}-\d{{6}}\.csv"',
                        response["Content-Disposition"])  # fmt: skip
    header, *rows = list(csv.reader(io.StringIO(content(response))))
    assert header == ["sliceId", "statusBefore", "statusAfter", "outcome", "tries", "kodexaStatusCode", "message",
                      "auditEntry"]  # fmt: skip
    assert [row[:7] for row in rows] == [
        ["s-0", "FAILED", "PENDING", "succeeded", "2", "200", ""],
        ["s-1", "", "CANCELLED", "succeeded", "1", "200", ""],  # its own target, as an undo's items have
        ["s-2", "FAILED", "RUNNING", "conflict", "1", "409", "changeSequence 4 is stale"],  # Kodexa's now
        ["s-3", "FAILED", "FAILED", "failed", "3", "500", '\'=HYPERLINK("http://x","click"), then "more"'],
        ["'@SUM(1+1)", "FAILED", "FAILED", "pending", "0", "", ""],
    ]
    assert [bool(row[7]) for row in rows] == [True, False, False, False, False]  # s-3's entry is another job's


def test_the_audit_link_is_the_items_latest_entry_in_this_job(viewer_client, edited):
    latest = audit_entry(remote_id="s-0", bulk_job_id=edited.pk, response_status=200, outcome="succeeded")
    link = list(csv.reader(io.StringIO(content(download(viewer_client, edited, "csv")))))[1][7]
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("http", "testserver")
    match = resolve(parts.path)
    assert (match.view_name, match.kwargs) == ("audit:detail", {"pk": latest.pk})


def test_the_json_lines_carry_numbers_as_numbers_and_unknowns_as_null(viewer_client, edited):
    response = download(viewer_client, edited, "jsonl")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert response["Content-Disposition"].endswith('.jsonl"')
    records = [json.loads(line) for line in content(response).splitlines()]
    assert [list(r) for r in records] == [list(exports.COLUMNS)] * 5
    first, second, conflict, failed, pending = records
    assert first["tries"] == 2 and first["kodexaStatusCode"] == 200 and first["auditEntry"].startswith("http://")
    assert (second["statusBefore"], second["statusAfter"], second["auditEntry"]) == (None, "CANCELLED", None)
    assert (conflict["statusAfter"], conflict["outcome"]) == ("RUNNING", "conflict")
    assert failed["message"] == '=HYPERLINK("http://x","click"), then "more"'  # JSON is not a spreadsheet
    assert (pending["sliceId"], pending["statusAfter"], pending["kodexaStatusCode"]) == ("@SUM(1+1)", "FAILED", None)


def test_the_download_reads_audit_entries_once_a_chunk_not_once_an_item(viewer_client, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 4)
    job = job_with(*[done("succeeded")] * 10)
    for n in range(10):
        audit_entry(remote_id=f"s-{n}", bulk_job_id=job.pk)
    response = download(viewer_client, job, "jsonl")
    with CaptureQueriesContext(connection) as queries:
        records = [json.loads(line) for line in content(response).splitlines()]
    audit_table = connection.ops.quote_name("audit_auditentry")
    assert len(records) == 10 and all(r["auditEntry"] for r in records)
    assert len([q for q in queries if audit_table in q["sql"]]) == 3  # 4 + 4 + 2
    assert len(queries) <= 4


def test_an_unknown_format_is_not_found(viewer_client, edited):
    assert download(viewer_client, edited, "xlsx").status_code == 404
    assert viewer_client.get(reverse("bulk:items-export", args=[edited.pk + 1, "csv"])).status_code == 404


def test_only_a_get_downloads(viewer_client, edited):
    assert viewer_client.post(reverse("bulk:items-export", args=[edited.pk, "csv"])).status_code == 405


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client, edited):
    url = reverse("bulk:items-export", args=[edited.pk, "csv"])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
