"""Dashboard figures on a known data set, each linking to the list that shows its slices."""

import datetime as dt
from urllib.parse import parse_qs

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from slices_admin.kodexa.schemas import format_datetime
from slices_admin.slices.dashboard import compute
from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import OrchestratorSlice
from tests.factories import cache_orchestrator, orchestrator_record

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
