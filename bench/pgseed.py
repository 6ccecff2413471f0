"""The benchmark data of `seed.py` (slices) and `audit_seed.py` (audit entries), written into PostgreSQL by COPY.

The rows are the same generators' (the same distributions, the audit entries the same valid hash chain continuing
from the log's head); only the writing differs: one COPY per table, in one transaction with the table's secondary
indexes (the model's, and any a migration built outside it, such as the trigram search index) dropped first and
built after from their own definitions (with a large `maintenance_work_mem`), then VACUUM ANALYZE (statistics for
the planner, and the visibility map index-only scans need, as autovacuum would leave them). Interrupted, a load
leaves nothing behind. The slice table is started over when it holds another number of rows than asked; the audit
log, which nothing may shorten, is topped up.
"""

import time
from collections.abc import Callable, Iterable

from django.db import connection, transaction

from slices_admin.audit import chain
from slices_admin.audit.models import AuditEntry
from slices_admin.slices.models import OrchestratorSlice

from . import audit_seed, seed

_PROGRESS_EVERY = 100_000


def _copy(model, columns: Iterable[str], rows: Iterable[tuple], log: Callable, began: float, noun: str) -> int:
    """COPY the rows into the model's table; answer how many were written."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    written = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
            if written % _PROGRESS_EVERY == 0:
                log(f"  {written:>9,} {noun}  {time.perf_counter() - began:6.1f} s")
    return written


def secondary_indexes(model) -> dict[str, str]:
    """The table's indexes other than those of its constraints (primary key, unique): name → CREATE statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
            [model._meta.db_table],
        )
        return dict(cursor.fetchall())


def _load(
    model, columns: Iterable[str], rows: Iterable[tuple], log: Callable, noun: str, before=None, after=None
) -> float:
    """Drop the secondary indexes, COPY, rebuild them, all in one transaction (`before` first, `after` once the
    rows are in); then VACUUM ANALYZE. Answers seconds."""
    began = time.perf_counter()
    with transaction.atomic():
        if before is not None:
            before()
        dropped = secondary_indexes(model)
        with connection.cursor() as cursor:
            for name in dropped:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        _copy(model, columns, rows, log, began, noun)
        if after is not None:
            after()
        log(f"  building {len(dropped)} indexes ...")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for name, statement in dropped.items():
                built = time.perf_counter()
                cursor.execute(statement)
                log(f"    {name}  {time.perf_counter() - built:6.1f} s")
    log("  vacuuming and refreshing planner statistics ...")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
    seconds = time.perf_counter() - began
    log(f"  seeded in {seconds:.1f} s")
    return seconds


def ensure_slices(target: int, log=print, *, gone: bool = False) -> float | None:
    """Exactly `target` generated orchestrator slices in the cache (the caller has removed any other rows);
    answer the seconds seeding took, or None when they were there already. `gone`: each flagged gone as it is
    copied (the column's default for the load), not by an UPDATE after, which rewrites every row and index entry."""
    present = OrchestratorSlice.objects.count()
    if present == target:
        log(f"Cache holds {present:,} orchestrator slices: reusing them.")
        return None
    log(f"Cache holds {present:,} orchestrator slices, not {target:,}: seeding it anew ...")
    table, gone_at = connection.ops.quote_name(OrchestratorSlice._meta.db_table), connection.ops.quote_name("gone_at")

    def empty() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
            if gone:
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {gone_at} SET DEFAULT now()")

    def settle() -> None:
        if gone:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {gone_at} DROP DEFAULT")

    rows = seed.slice_rows(target, "load", int(time.time() * 1000))
    return _load(OrchestratorSlice, seed.COLUMNS, rows, log, "slices", before=empty, after=settle)


def ensure_entries(target: int, log=print) -> float | None:
    """Top the audit log up to `target` entries, chained after its head; answer the seconds it took, or None."""
    missing = audit_seed.missing_entries(target, "load-audit", log)
    if missing is None:
        return None
    head = missing.head

    def hold_the_chain() -> None:
        """No other writer may append while the load runs (the chain would fork)."""
        chain.lock_for_append()
        now = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        if now != (head["entry_hash"] if head else None):
            raise RuntimeError("Someone else wrote audit entries before the load: the chain would fork.")

    return _load(AuditEntry, audit_seed.COLUMNS, missing.rows, log, "entries", before=hold_the_chain)
