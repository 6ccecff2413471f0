"""The PostgreSQL browsing benchmark's own pieces: database names per size, plan summaries, the sync page write that
leaves the table as it found it, and the printed table."""

import pytest
from django.db import connection

from bench import pgdatabases, pgplans, pgreport
from slices_admin.slices.models import OrchestratorSlice
from tests.factories import cache_orchestrator, orchestrator_record

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="measures PostgreSQL")


def test_each_size_has_a_database_named_for_it():
    assert [pgdatabases.size_label(n) for n in (10_000_000, 1_000_000, 200_000, 1_500)] == ["10m", "1m", "200k", "1500"]
    assert pgdatabases.database_name(10_000_000) == "console_bench_10m"


PLAN = {
    "Execution Time": 1.234,
    "Plan": {
        "Node Type": "Limit",
        "Actual Rows": 101,
        "Actual Loops": 1,
        "Shared Hit Blocks": 90,
        "Shared Read Blocks": 10,
        "Plans": [
            {
                "Node Type": "Index Scan",
                "Scan Direction": "Backward",
                "Index Name": "orchestratorslice_status",
                "Actual Rows": 101,
                "Actual Loops": 1,
                "Rows Removed by Filter": 400,
            }
        ],
    },
}


def test_a_plan_is_summed_up_as_its_shape_the_rows_its_scans_touched_and_its_pages():
    summary = pgplans.summarize(PLAN)
    assert (summary["rows_touched"], summary["pages"], summary["execution_ms"]) == (501, 100, 1.23)
    assert summary["shape"] == ["Limit  rows=101x1", "  Index Scan Backward orchestratorslice_status  rows=101x1"]


def test_a_query_is_shown_without_its_column_list():
    assert pgplans.short_sql('SELECT "a", "b" FROM "t" WHERE x') == 'SELECT … FROM "t" WHERE x'


def _size(rows: int, p95: float) -> dict:
    ms = {"median": p95 / 2, "p95": p95, "min": 1.0, "max": p95}
    row = {
        "name": "status=FAILED",
        "matching_rows": rows // 10,
        "console_ms": ms,
        "api_ms": ms,
        "admin_ms": {**ms, "median": p95 * 4, "p95": p95 * 4},
        "console_within_target": True,
        "api_within_target": True,
        "console_faster_than_admin": True,
        "console_queries": [{"ms": 1.0, "rows_touched": 101, "pages": 104, "shape": ["Limit  rows=101x1"]}],
    }
    disk = {"database_mib": 3000, "slice_table_mib": 1200, "slice_indexes_mib": 1800, "slice_index_count": 27}
    write = {"insert": {"ms": 700.0, "wal_kib": 7000}, "update": {"ms": 600.0, "wal_kib": 6000}}
    return {"rows": rows, "combinations": [row], "disk": disk, "sync_page_write": write}


def test_the_table_shows_every_size_the_growth_and_the_plans():
    figures = {
        "machine": {"postgresql": "15"},
        "sizes": [_size(1_000_000, 40.0), _size(10_000_000, 80.0)],
        "growth": [{"name": "status=FAILED", "p95_ratio": {"console": 2.0}, "console_within_target": False,
                    "api_within_target": True}],
        "page_size": 100, "target_p95_ms": 100.0, "target_growth": 1.5, "timed_requests": 5, "warmup_requests": 1,
        "pass": False,
    }  # fmt: skip
    text = pgreport.table(figures)
    assert "1M" in text and "10M" in text and "2.00x  MISS" in text
    assert "101 rows" in text and "27 indexes 1,800 MiB" in text and "All targets: MISS" in text


@on_postgres
@pytest.mark.django_db
def test_timing_a_sync_page_leaves_the_table_as_it_was_and_sizes_are_read(monkeypatch):
    cache_orchestrator(orchestrator_record())
    monkeypatch.setattr(pgdatabases, "SYNC_PAGE", 3)
    monkeypatch.setattr(pgdatabases, "_WRITE_RUNS", 1)
    monkeypatch.setattr(pgdatabases, "_vacuum", lambda: None)  # not inside the test's transaction
    cost = pgdatabases.sync_page_cost()
    assert cost["records"] == 3 and cost["insert"]["wal_kib"] >= 0 and cost["update"]["ms"] > 0
    assert OrchestratorSlice.objects.count() == 1
    disk = pgdatabases.disk()
    assert disk["slice_index_count"] == len(disk["indexes_mib"]) > 20
