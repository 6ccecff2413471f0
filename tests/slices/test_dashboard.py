"""Dashboard figures on a known data set, each linking to the list that shows its slices; stored by the background
workers and read by the pages, which compute them only when no worker does."""

import datetime as dt
import json
import logging
import threading
from dataclasses import replace
from urllib.parse import parse_qs

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from slices_admin.kodexa.schemas import format_datetime
from slices_admin.slices import dashboard as slice_dashboard
from slices_admin.slices.dashboard import SNAPSHOT_KEY, compute, current, from_json, refresh, to_json
from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import DashboardSnapshot, OrchestratorSlice
from slices_admin.worker.management.commands.db_worker import _refresh_dashboard
from tests.factories import cache_orchestrator, orchestrator_record
from tests.support import wait_for

pytestmark = pytest.mark.django_db


def ago(**delta) -> str:
    return format_datetime(timezone.now() - dt.timedelta(**delta))


@pytest.fixture
def data():
    records = [
        *(
            orchestrator_record(status="SUCCEEDED", moduleRuntimeId="rt-a", durationMs=ms)
            for ms in range(100, 1001, 100)
        ),
        orchestrator_record(status="FAILED", errorMessage="KeyError: 'x'", updatedOn=ago(hours=1), durationMs=None),
        orchestrator_record(status="FAILED", errorMessage="KeyError: 'x'", updatedOn=ago(hours=2), durationMs=None),
        orchestrator_record(status="FAILED", errorMessage="Timeout", updatedOn=ago(hours=3), durationMs=None),
        orchestrator_record(status="FAILED", errorMessage="Old failure", updatedOn=ago(days=3), durationMs=None),
        orchestrator_record(status="RUNNING", completedAt=None, leaseExpiresAt=ago(minutes=5), durationMs=None),
        orchestrator_record(
            status="PENDING", queuedAt=ago(hours=2), leasedAt=None, leaseExpiresAt=None, startedAt=None,
            completedAt=None, durationMs=None,
        ),
        orchestrator_record(
            status="PENDING", queuedAt=ago(minutes=1), leasedAt=None, leaseExpiresAt=None, startedAt=None,
            completedAt=None, durationMs=None,
        ),
    ]  # fmt: skip
    cache_orchestrator(*records)


def listed(query: str) -> int:
    _filterset, queryset = filtered_slices(OrchestratorSlice, QueryDict(query))
    return queryset.count()


def test_counts_by_status_link_to_exactly_those_slices(data):
    dashboard = compute()
    counts = {f.label: f.value for f in dashboard.by_status}
    assert counts == {"SUCCEEDED": 10, "FAILED": 4, "PENDING": 2, "RUNNING": 1}
    assert dashboard.total == 17
    for figure in dashboard.by_status:
        assert listed(figure.query) == figure.value
    assert dashboard.by_status[0].share == 1.0


def test_stuck_slices_are_counted_and_linked(data):
    dashboard = compute()
    assert dashboard.lease_expired.value == 1 and listed(dashboard.lease_expired.query) == 1
    assert dashboard.queued_too_long.value == 1 and listed(dashboard.queued_too_long.query) == 1


def test_recent_failures_are_grouped_by_message_within_the_window(data):
    failures = compute().recent_failures
    assert [(f.label, f.value) for f in failures] == [("KeyError: 'x'", 2), ("Timeout", 1)]
    assert listed(failures[0].query) == 2
    assert parse_qs(failures[0].query)["status"] == ["FAILED"]


def test_duration_percentiles_per_runtime(data):
    (row,) = compute().durations
    assert (row.runtime, row.count, row.p50_ms, row.p95_ms) == ("rt-a", 10, 500, 900)


def test_the_dashboard_is_the_landing_page(client, make_user, data):
    client.force_login(make_user("viewer"))
    response = client.get("/", follow=True)
    assert response.request["PATH_INFO"] == reverse("slices:dashboard")
    body = response.content.decode()
    assert "Lease expired" in body and "KeyError" in body and "rt-a" in body


# --- stored by the workers, read by the pages ---------------------------------------------------------------------
def store(dashboard) -> None:
    """As a worker leaves it."""
    DashboardSnapshot.objects.update_or_create(
        pk=SNAPSHOT_KEY, defaults={"computed_at": dashboard.computed_at, "figures": to_json(dashboard)}
    )


def stored() -> DashboardSnapshot:
    return DashboardSnapshot.objects.get(pk=SNAPSHOT_KEY)


def computed_before(seconds: float):
    return compute(now=timezone.now() - dt.timedelta(seconds=seconds))


def aggregates(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if "GROUP BY" in q["sql"] or "COUNT(" in q["sql"]]


def test_a_dashboard_round_trips_through_json_unchanged(data):
    dashboard = compute()
    assert dashboard.lease_expired and dashboard.recent_failures and dashboard.durations  # every kind of field
    again = from_json(json.loads(json.dumps(to_json(dashboard))))
    assert again == dashboard
    assert (again.computed_at, again.computed_at.utcoffset()) == (dashboard.computed_at, dt.timedelta(0))


def test_a_fresh_stored_dashboard_is_served_without_computing(data):
    refreshed = refresh(0)
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        served = current()
    assert len(queries) == 1 and not aggregates(queries)
    assert served == refreshed == replace(compute(now=refreshed.computed_at), compute_ms=refreshed.compute_ms)


def test_the_stored_dashboard_is_read_once_a_while_per_process(data):
    store(compute())
    current()
    with CaptureQueriesContext(connection) as queries:
        current()
    assert len(queries) == 0


def test_figures_older_than_the_refresh_period_are_served_until_they_are_stale(data, settings):
    settings.DASHBOARD_REFRESH_SECONDS, settings.DASHBOARD_STALE_SECONDS = 15, 120
    old = computed_before(60)
    store(old)
    with CaptureQueriesContext(connection) as queries:
        assert current() == old
    assert not aggregates(queries)


def test_a_missing_dashboard_is_computed_in_the_request_and_stored(data):
    with CaptureQueriesContext(connection) as queries:
        served = current()
    assert aggregates(queries)
    assert timezone.now() - served.computed_at < dt.timedelta(seconds=30)
    snapshot = stored()
    assert snapshot.computed_at == served.computed_at and from_json(snapshot.figures) == served
    assert snapshot.claimed_until is None and snapshot.duration_ms is not None


def test_a_stale_dashboard_is_computed_in_the_request_and_stored(data, settings):
    settings.DASHBOARD_STALE_SECONDS = 120
    store(computed_before(200))
    served = current()
    assert timezone.now() - served.computed_at < dt.timedelta(seconds=30)
    assert from_json(stored().figures) == served and stored().claimed_until is None


def test_a_stale_dashboard_is_served_while_another_process_computes_the_next(data, settings):
    settings.DASHBOARD_STALE_SECONDS = 120
    old = computed_before(200)
    store(old)
    DashboardSnapshot.objects.update(claimed_until=timezone.now() + dt.timedelta(seconds=60))
    with CaptureQueriesContext(connection) as queries:
        assert current() == old
    assert not aggregates(queries)


def test_with_nothing_stored_a_request_computes_even_while_another_process_does(data):
    DashboardSnapshot.objects.create(pk=SNAPSHOT_KEY, claimed_until=timezone.now() + dt.timedelta(seconds=60))
    served = current()
    assert served.total == 17 and from_json(stored().figures) == served


def test_the_page_says_how_old_the_stored_figures_are(client, make_user, data, settings):
    settings.DASHBOARD_STALE_SECONDS = 3600
    store(computed_before(5 * 60))
    client.force_login(make_user("viewer"))
    body = client.get(reverse("slices:dashboard")).content.decode()
    assert "computed 5\xa0minutes ago" in body and "KeyError" in body


def test_refresh_computes_only_once_the_stored_dashboard_is_older_than_the_period(data, settings):
    settings.DASHBOARD_REFRESH_SECONDS = 15
    recent = computed_before(10)
    store(recent)
    assert refresh() is None
    assert from_json(stored().figures) == recent
    store(computed_before(20))
    refreshed = refresh()
    assert refreshed is not None and timezone.now() - refreshed.computed_at < dt.timedelta(seconds=30)
    snapshot = stored()
    assert from_json(snapshot.figures) == refreshed and snapshot.claimed_until is None


def test_a_dashboard_slow_to_compute_is_recomputed_less_often(data, settings):
    """At most DASHBOARD_MAX_LOAD of a core: a compute of 2 s waits 2 / 0.05 = 40 s, not the 15 s period."""
    settings.DASHBOARD_REFRESH_SECONDS, settings.DASHBOARD_MAX_LOAD = 15, 0.05
    store(computed_before(30))
    DashboardSnapshot.objects.update(duration_ms=2000)
    assert refresh() is None
    store(computed_before(45))
    assert refresh() is not None
    assert stored().duration_ms < 2000  # this one's own time, for the next spacing


def test_pages_do_not_compute_a_slow_dashboard_that_workers_keep_at_its_spacing(data, settings):
    settings.DASHBOARD_REFRESH_SECONDS, settings.DASHBOARD_STALE_SECONDS, settings.DASHBOARD_MAX_LOAD = 15, 120, 0.05
    store(replace(computed_before(150), compute_ms=10_000))  # spaced 200 s apart: stale only after 400 s
    with CaptureQueriesContext(connection) as queries:
        served = current()
    assert not aggregates(queries) and served.compute_ms == 10_000
    store(replace(computed_before(500), compute_ms=10_000))
    cache.clear()
    assert timezone.now() - current().computed_at < dt.timedelta(seconds=30)  # no worker: the page computes it


def test_refresh_computes_when_nothing_is_stored(data):
    assert refresh().total == 17
    assert from_json(stored().figures).total == 17


def test_refresh_skips_while_another_process_holds_the_claim_and_not_after_it_lapses(data):
    store(computed_before(60))
    DashboardSnapshot.objects.update(claimed_until=timezone.now() + dt.timedelta(seconds=30))
    assert refresh(15) is None
    DashboardSnapshot.objects.update(claimed_until=timezone.now() - dt.timedelta(seconds=1))  # its process died
    assert refresh(15) is not None


@pytest.mark.django_db(transaction=True)
def test_a_second_worker_skips_while_the_first_computes(monkeypatch):
    cache_orchestrator(orchestrator_record(status="FAILED"))
    real_compute, computing, finish = slice_dashboard.compute, threading.Event(), threading.Event()
    calls = []

    def slow_compute(now=None):
        calls.append(threading.current_thread().name)
        computing.set()
        finish.wait(10)
        return real_compute(now)

    monkeypatch.setattr(slice_dashboard, "compute", slow_compute)
    results = []

    def first_worker():
        try:
            results.append(refresh(0))
        finally:
            connection.close()

    thread = threading.Thread(target=first_worker, name="first")
    thread.start()
    try:
        assert computing.wait(10)
        assert refresh(0) is None  # the first holds the claim
    finally:
        finish.set()
        thread.join(10)
    assert calls == ["first"] and results[0].total == 1
    assert stored().claimed_until is None


def test_a_failed_refresh_is_logged_releases_its_claim_and_does_not_stop_the_worker(data, monkeypatch, caplog):
    def broken(now=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(slice_dashboard, "compute", broken)
    monkeypatch.setattr(connection, "close", lambda: None)  # the test's transaction stays open
    with caplog.at_level(logging.ERROR):
        _refresh_dashboard()
    assert "dashboard" in caplog.text and "boom" in caplog.text
    assert stored().claimed_until is None and stored().computed_at is None
    monkeypatch.undo()
    assert refresh(0).total == 17  # the next beat computes it


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_keeps_the_stored_dashboard_up_to_date(start_worker):
    def stored_counts() -> dict:
        figures = DashboardSnapshot.objects.filter(pk=SNAPSHOT_KEY).values_list("figures", flat=True).first()
        return {f["label"]: f["value"] for f in figures["by_status"]} if figures else {}

    cache_orchestrator(*(orchestrator_record(status="SUCCEEDED") for _ in range(3)))
    start_worker(BULK_SWEEP_SECONDS="0.2", DASHBOARD_REFRESH_SECONDS="0.5")
    wait_for(lambda: stored_counts() == {"SUCCEEDED": 3})
    cache_orchestrator(orchestrator_record(status="FAILED"), orchestrator_record(status="FAILED"))
    wait_for(lambda: stored_counts() == {"SUCCEEDED": 3, "FAILED": 2})
    with CaptureQueriesContext(connection) as queries:
        served = current()
    assert not aggregates(queries)
    assert {f.label: f.value for f in served.by_status} == {"SUCCEEDED": 3, "FAILED": 2}
