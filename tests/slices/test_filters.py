"""Each filter and sort against a known data set, through the same function the list, export and API use."""

import datetime as dt

import pytest
from django.http import QueryDict
from django.utils import timezone

from slices_admin.kodexa.schemas import format_datetime
from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import OrchestratorSlice
from tests.factories import BASE_TIME, at, cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db


def ids(query: str) -> list[str]:
    filterset, queryset = filtered_slices(OrchestratorSlice, QueryDict(query))
    assert filterset.is_valid(), filterset.errors
    return list(queryset.values_list("id", flat=True))


@pytest.fixture
def data():
    now = timezone.now()
    soon, past = format_datetime(now + dt.timedelta(minutes=5)), format_datetime(now - dt.timedelta(minutes=5))
    records = {
        "ok": orchestrator_record(id="a-ok", status="SUCCEEDED", sliceOrder=3, updatedOn=at(10)),
        "failed": orchestrator_record(
            id="b-failed", status="FAILED", errorMessage="TimeoutError: task exceeded 900s", attemptNumber=3,
            organizationId="org-b", updatedOn=at(20), durationMs=900_000,
        ),
        "running_expired": orchestrator_record(
            id="c-expired", status="RUNNING", completedAt=None, leaseExpiresAt=past, pipelineExecutionId="pipe-2",
            moduleRuntimeId="runtime-y", updatedOn=at(30), queuedAt=at(500),
        ),
        "running_leased": orchestrator_record(
            id="d-leased", status="RUNNING", completedAt=None, leaseExpiresAt=soon, updatedOn=at(40), errorMessage="",
        ),
        "pending": orchestrator_record(
            id="e-pending", status="PENDING", leasedAt=None, leaseExpiresAt=None, startedAt=None, completedAt=None,
            uuid="uuid-of-e", updatedOn=at(50), attemptNumber=2,
        ),
    }  # fmt: skip
    cache_orchestrator(*records.values())
    return records


def test_default_order_is_newest_update_first(data):
    assert ids("") == ["e-pending", "d-leased", "c-expired", "b-failed", "a-ok"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=FAILED", ["b-failed"]),
        ("status=FAILED&status=PENDING", ["e-pending", "b-failed"]),
        ("status=SOMETHING_NEW", []),
        ("organizationId=org-b", ["b-failed"]),
        ("pipelineExecutionId=pipe-2", ["c-expired"]),
        ("moduleRuntimeId=runtime-y", ["c-expired"]),
        ("attemptAtLeast=2", ["e-pending", "b-failed"]),
        ("hasError=true", ["b-failed"]),
        ("hasError=false", ["e-pending", "d-leased", "c-expired", "a-ok"]),
        ("leaseExpired=true", ["c-expired"]),
        ("q=timeouterror", ["b-failed"]),
        ("q=a-ok", ["a-ok"]),
        ("q=uuid-of-e", ["e-pending"]),
        ("q=a-o", []),  # ids match exactly, never by prefix
        ("updatedOn_after=2026-11-01T12:25:00Z&updatedOn_before=2026-11-01T12:45:00Z", ["d-leased", "c-expired"]),
        ("queuedAt_after=2026-11-01T20:00", ["c-expired"]),
        ("completedAt_before=2030-01-01", ["b-failed", "a-ok"]),
        ("startedAt_after=2026-11-01&status=PENDING", []),
        ("status=RUNNING&leaseExpired=false", ["d-leased"]),
    ],
)
def test_each_filter_selects_exactly_its_rows(data, query, expected):
    OrchestratorSlice.objects.exclude(id="c-expired").update(queued_at=BASE_TIME)
    assert ids(query) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("updatedOn", ["a-ok", "b-failed", "c-expired", "d-leased", "e-pending"]),
        ("-attemptNumber", ["b-failed", "e-pending", "d-leased", "c-expired", "a-ok"]),
        ("status", ["b-failed", "e-pending", "c-expired", "d-leased", "a-ok"]),
        ("-durationMs", ["b-failed", "e-pending", "d-leased", "c-expired", "a-ok"]),
        ("id", ["a-ok", "b-failed", "c-expired", "d-leased", "e-pending"]),
        ("-id", ["e-pending", "d-leased", "c-expired", "b-failed", "a-ok"]),
    ],
)
def test_each_sort_orders_with_an_id_tie_break(data, sort, expected):
    assert ids(f"sort={sort}") == expected


def test_every_sortable_column_sorts_both_ways_as_exact_mirrors(data):
    from slices_admin.slices.filters import OrchestratorSliceFilter

    for param in OrchestratorSliceFilter.base_filters["sort"].param_map:
        up, down = ids(f"sort={param}"), ids(f"sort=-{param}")
        assert sorted(up) == sorted(r["id"] for r in data.values()), param
        assert down == up[::-1], param


def test_invalid_filter_values_are_reported_not_applied(data):
    filterset, _queryset = filtered_slices(OrchestratorSlice, QueryDict("attemptAtLeast=lots&sort=bogus"))
    assert not filterset.is_valid()
    assert set(filterset.errors) == {"attemptAtLeast", "sort"}


_SORTED = {
    "queuedAt": "queued_at",
    "durationMs": "duration_ms",
    "errorMessage": "error_message",
    "completedAt": "completed_at",
    "startedAt": "started_at",
    "attemptNumber": "attempt_number",
    "id": "id",
}


def in_python(query: str) -> list[str]:
    """The matches of `query` sorted here as the lists sort: no value below any value, ties by id alike."""
    params = QueryDict(query)
    sort = params["sort"]
    column = _SORTED[sort.lstrip("-")]
    _filterset, matches = filtered_slices(OrchestratorSlice, params)
    rows = list(matches.values_list(column, "id"))
    rows.sort(key=lambda row: (row[0] is not None, row[0] if row[0] is not None else 0, row[1]))
    return [row[1] for row in (rows[::-1] if sort.startswith("-") else rows)]


@pytest.mark.parametrize("plan", ["walk_sort_index", "sort_matches"])
@pytest.mark.parametrize(
    "query",
    [
        "status=FAILED&status=RUNNING&sort=-queuedAt",
        "organizationId=org-b&sort=id",
        "organizationId=org-b&sort=-id",
        "attemptAtLeast=1&sort=-startedAt",
        "hasError=true&sort=-attemptNumber",
        "hasError=true&sort=durationMs",
        "hasError=true&sort=-errorMessage",
        "status=RUNNING&sort=completedAt",
        "moduleRuntimeId=runtime-y&sort=queuedAt",
    ],
)
def test_every_plan_selects_the_same_rows_in_the_same_order(data, plan, query):
    _filterset, planned = filtered_slices(OrchestratorSlice, QueryDict(query), **{plan: True})
    assert list(planned.values_list("id", flat=True)) == ids(query) == in_python(query)


def test_sorting_the_matches_leads_with_a_key_no_index_serves_on_postgresql(data):
    from django.db import connection

    _filterset, planned = filtered_slices(OrchestratorSlice, QueryDict("hasError=true&sort=durationMs"))
    _filterset, sorted_matches = filtered_slices(
        OrchestratorSlice, QueryDict("hasError=true&sort=durationMs"), sort_matches=True
    )
    order_by = str(sorted_matches.query).partition("ORDER BY")[2]
    if connection.vendor == "postgresql":
        assert order_by.lstrip().startswith('"slices_orchestratorslice"."duration_ms" IS NULL DESC')
    else:  # SQLite plans as make bench measures: the query is left as it is
        assert str(sorted_matches.query) == str(planned.query)


def test_a_sort_by_id_alone_is_the_primary_keys_order(data):
    _filterset, by_id = filtered_slices(OrchestratorSlice, QueryDict("sort=-id"))
    assert str(by_id.query).rstrip().endswith('ORDER BY "slices_orchestratorslice"."id" DESC')


def test_walking_the_sort_index_takes_the_broad_filters_out_of_sqlites_plan(data):
    from django.db import connection

    _filterset, walked = filtered_slices(
        OrchestratorSlice, QueryDict("organizationId=org-b&sort=-queuedAt"), walk_sort_index=True
    )
    sql = str(walked.query)
    if connection.vendor == "sqlite":
        assert '+"slices_orchestratorslice"."organization_id"' in sql
    _filterset, default_sort = filtered_slices(OrchestratorSlice, QueryDict("status=FAILED"), walk_sort_index=True)
    assert '+"slices_orchestratorslice"."status"' not in str(default_sort.query)  # (status, updated_on) serves it


def test_the_list_walks_the_sort_index_once_the_count_overflows(data, client, make_user, monkeypatch):
    from slices_admin.slices import selectors

    client.force_login(make_user("viewer"))
    url = "/slices/orchestrator/?attemptAtLeast=1&sort=-queuedAt"
    before = client.get(url).content.decode()
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 2)
    after = client.get(url).content.decode()
    order = [
        record_id for record_id in ("c-expired", "a-ok", "b-failed", "d-leased", "e-pending") if record_id in before
    ]
    assert [i for i in order if i in after] == order and "2+</strong>" in after
