"""The PostgreSQL browsing benchmark's databases: one per cache size on one server, seeded by COPY once and reused,
what each takes on disk, and what one sync page costs to write into it.

One process measures them all, switching Django's one connection from database to database between rounds (the
clients signed in to each keep their own sessions), so every size sees the same moment's machine.
"""

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection

from . import indexes, pgseed
from .support import ensure_database

SYNC_PAGE = 1000  # records a sync page upserts (the sandbox's and Kodexa's largest page)
_WRITE_RUNS = 5


def size_label(rows: int) -> str:
    """1,000,000 → "1m", 200,000 → "200k", 1,500 → "1500"."""
    for unit, scale in (("m", 1_000_000), ("k", 1000)):
        if rows >= scale and rows % scale == 0:
            return f"{rows // scale}{unit}"
    return str(rows)


def database_name(rows: int) -> str:
    return f"console_bench_{size_label(rows)}"


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """Point Django's connection at database `name` on the same server for the duration."""
    previous = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    ContentType.objects.clear_cache()  # ids are per database
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = previous
        ContentType.objects.clear_cache()


def prepare(server: str, rows: int, log: Callable = print) -> float | None:
    """Create, migrate and seed (only when it holds another number of slices) the database of `rows` slices, check
    its indexes are a fresh migrate's; the seconds seeding took, or None when the slices were there."""
    from slices_admin.slices.models import OrchestratorSlice

    name = database_name(rows)
    ensure_database(server, name)
    with using(name):
        call_command("migrate", verbosity=0, interactive=False)
        log(f"{name}:")
        OrchestratorSlice.objects.filter(id__startswith=_WRITE_PREFIX).delete()  # left by an interrupted run
        seconds = pgseed.ensure_slices(rows, log)
        indexes.check(log)
        with connection.cursor() as cursor:  # every run starts from the same state, as autovacuum would leave it
            cursor.execute(f"VACUUM (ANALYZE) {OrchestratorSlice._meta.db_table}")
    return seconds


def disk() -> dict:
    """What the current database and its slice table take: the database, the table (heap and TOAST) and its indexes,
    each index by name, largest first (MiB)."""
    from slices_admin.slices.models import OrchestratorSlice

    table = OrchestratorSlice._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()), pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)",
            [table, table],
        )
        database, heap, all_indexes = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname, pg_relation_size(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass ORDER BY 2 DESC, 1",
            [table],
        )
        each = cursor.fetchall()
    mib = 1024**2
    return {
        "database_mib": round(database / mib),
        "slice_table_mib": round(heap / mib),
        "slice_indexes_mib": round(all_indexes / mib),
        "slice_index_count": len(each),
        "indexes_mib": {name: round(size / mib, 1) for name, size in each},
    }


_WRITE_PREFIX = "bench-sync-page-"


def _sync_page(run: int, *, changed: bool) -> list[dict]:
    """A sync page of `SYNC_PAGE` full records as Kodexa answers them, with ids of their own (removed after);
    `changed`: the same records as a later sync reads them, finished since (a new status, update time and version:
    indexed columns change, as they do when slices move on)."""
    from slices_admin.sandbox.seed import orchestrator_slices

    now = datetime.now(UTC)
    records = list(orchestrator_slices(SYNC_PAGE, 7_000 + run, now))
    for number, record in enumerate(records):
        record["id"] = f"{_WRITE_PREFIX}{run}-{number:04d}"
        record["changeSequence"] = 1
        if changed:
            record.update(changeSequence=2, status="SUCCEEDED", updatedOn=now.isoformat().replace("+00:00", "Z"))
    return records


def _timed_write(records: list[dict]) -> tuple[float, int]:
    """Upsert one page as a sync does; the milliseconds and the WAL bytes it wrote."""
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.slices.cache import cache_records

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        before = cursor.fetchone()[0]
        began = time.perf_counter()
        cache_records(ORCHESTRATOR_SLICE, records)
        elapsed = (time.perf_counter() - began) * 1000
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before])
        return elapsed, int(cursor.fetchone()[0])


def _vacuum() -> None:
    from slices_admin.slices.models import OrchestratorSlice

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {OrchestratorSlice._meta.db_table}")


def sync_page_cost() -> dict:
    """What writing one sync page costs at this size: new records inserted, then the same records changed (a
    newer changeSequence) as the next sync finds them; medians of a few runs, milliseconds and WAL written. The
    rows are removed after, so the table keeps exactly its seeded slices."""
    from slices_admin.slices.models import OrchestratorSlice

    inserted: list[tuple[float, int]] = []
    updated: list[tuple[float, int]] = []
    try:
        for run in range(_WRITE_RUNS):
            inserted.append(_timed_write(_sync_page(run, changed=False)))
            updated.append(_timed_write(_sync_page(run, changed=True)))
    finally:
        OrchestratorSlice.objects.filter(id__startswith=_WRITE_PREFIX).delete()
        _vacuum()

    def median(runs: list[tuple[float, int]]) -> dict:
        return {
            "ms": round(statistics.median(ms for ms, _ in runs), 1),
            "wal_kib": round(statistics.median(wal for _, wal in runs) / 1024),
        }

    return {"records": SYNC_PAGE, "runs": _WRITE_RUNS, "insert": median(inserted), "update": median(updated)}
