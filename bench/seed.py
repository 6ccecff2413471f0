"""A million realistic orchestrator slices in the benchmark's cache, written in about a minute.

The data follows the sandbox's demo data (`slices_admin/sandbox/catalog.py`): the same status weights, failures,
organizations, module runtimes and pipelines; pipeline executions of 5 to 40 slices (about 65,000 per million
rows), times spread over the 30 days before the load, RUNNING slices with live and expired leases. Payload columns
and `raw` are compact; derived columns are filled as the sync fills them. The model's secondary indexes are
dropped for the load and rebuilt after it (several times faster than keeping a dozen indexes up to date row by
row), and the planner statistics refreshed, as after a sync.
"""

import contextlib
import functools
import json
import random
import time
from bisect import bisect
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate, batched
from pathlib import Path

from django.core.management import call_command
from django.db import connection, transaction

from slices_admin.audit.models import AuditEntry
from slices_admin.sandbox.catalog import (
    CHANGE_SEQUENCES,
    FAILURES,
    FINISHED_OK,
    LEASE_MS,
    LIVE_LEASE_SHARE,
    ORGANIZATIONS,
    PIPELINES,
    STATUS_WEIGHTS,
    STEP_TIMEOUT_SECONDS,
    runtime,
)
from slices_admin.sandbox.seed import Chunk
from slices_admin.slices.cache import refresh_statistics
from slices_admin.slices.models import OrchestratorSlice

from . import indexes

HISTORY_MS = 30 * 86_400_000
_HOUR_MS = 3_600_000
BATCH = 20_000  # rows per executemany
COMMIT_EVERY = 100_000  # rows per transaction

_STATUSES = tuple(STATUS_WEIGHTS)
_CUMULATIVE = tuple(accumulate(STATUS_WEIGHTS.values()))
_OUTPUT_EVENTS = {"SKIPPED": '{"skipped":true}', **dict.fromkeys(FINISHED_OK, '{"documentStatus":"PROCESSED"}')}
_ERROR_DETAILS = {
    f.message: json.dumps({"type": f.message.partition(":")[0], "retryable": f.retryable}) for f in FAILURES
}
_PIPELINE_RUNTIMES = tuple((store, tuple(runtime(name) for name in steps)) for store, steps in PIPELINES)

# Every column the loader fills, in the order of the row tuples; the model's other columns stay NULL.
COLUMNS = (
    "id", "uuid", "status", "organization_id", "attempt_number", "change_sequence", "slice_order", "duration_ms",
    "error_message", "error_details", "input_event", "output_event", "steps_config", "lambda_request_id",
    "created_on", "updated_on", "queued_at", "leased_at", "lease_expires_at", "started_at", "completed_at", "raw",
    "last_seen_at", "open_lease_expires_at", "pipeline_execution_id", "module_runtime_id", "step_start_order",
    "step_end_order", "created_at",
)  # fmt: skip


def _uuid(rng: random.Random) -> str:
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"


@functools.lru_cache(maxsize=65_536)
def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M:")


def _when(ms: int | None) -> str | None:
    """Epoch milliseconds as Django stores an aware date-time in SQLite (UTC, naive text)."""
    if ms is None:
        return None
    minute, rest = divmod(ms, 60_000)
    return f"{_minute(minute)}{rest // 1000:02d}.{rest % 1000:03d}000"


@functools.lru_cache(maxsize=256)
def _steps_config(pipeline: int, start: int, size: int) -> tuple[str, str]:
    """The `stepsConfig` JSON of a chunk of a pipeline's steps, and the id of its first module runtime."""
    runtimes = _PIPELINE_RUNTIMES[pipeline][1][start : start + size]
    return json.dumps(Chunk.of(start, runtimes).steps_config, separators=(",", ":")), runtimes[0].id


def _chunks(rng: random.Random, pipeline: int) -> list[tuple[int, int, str, str]]:
    """A pipeline's steps cut into slices of one to three steps: (start, end, stepsConfig, runtime id)."""
    steps, chunks, start = len(_PIPELINE_RUNTIMES[pipeline][1]), [], 0
    while start < steps:
        size = min(rng.randint(1, 3), steps - start)
        chunks.append((start, start + size - 1, *_steps_config(pipeline, start, size)))
        start += size
    return chunks


def slice_rows(count: int, seed: str, now_ms: int) -> Iterator[tuple]:
    """`count` rows in `COLUMNS` order, grouped by pipeline execution, drawn from a generator seeded with `seed`."""
    rng = random.Random(seed)
    rand, randint, uniform = rng.random, rng.randint, rng.uniform
    last_seen = _when(now_ms)
    produced = 0
    while produced < count:
        size = min(5 + int(rng.betavariate(1.4, 3.5) * 36), count - produced)
        pipeline = randint(0, len(_PIPELINE_RUNTIMES) - 1)
        store, chunks = _PIPELINE_RUNTIMES[pipeline][0], _chunks(rng, pipeline)
        execution, organization = _uuid(rng), rng.choice(ORGANIZATIONS)
        begun = now_ms - randint(_HOUR_MS, HISTORY_MS)
        for order in range(size):
            start, end, steps_config, runtime_id = chunks[order % len(chunks)]
            status = _STATUSES[bisect(_CUMULATIVE, rand() * _CUMULATIVE[-1])]
            failure = rng.choice(FAILURES) if status == "FAILED" else None
            created = begun + int(order * uniform(200, 6000))
            queued = leased = started = completed = None
            if status != "REQUESTED":
                queued = created + randint(50, 5000)
            if status == "SKIPPED" or (status == "CANCELLED" and rand() < 0.5):
                completed = queued + randint(50, 600_000)
            elif status not in ("REQUESTED", "PENDING"):
                leased = queued + randint(100, 600_000)
                if status == "RUNNING" and rand() < LIVE_LEASE_SHARE:  # a lease still live
                    leased = now_ms - randint(20_000, 720_000)
                    queued, created = min(queued, leased - 1000), min(created, leased - 2000)
                started = leased + randint(50, 3000)
                if status != "RUNNING":
                    if failure is not None and failure.timed_out:
                        seconds = STEP_TIMEOUT_SECONDS + uniform(0.01, 0.5)
                    else:
                        seconds = min(STEP_TIMEOUT_SECONDS - 10, 0.2 + rng.lognormvariate(2.3, 1.1))
                    if status == "CANCELLED":
                        seconds = uniform(0.5, seconds)
                    completed = started + int(seconds * 1000)
            updated = completed or started or leased or queued or created
            if status == "PENDING_REPROCESSING":
                updated = min(now_ms, updated + randint(600_000, 3 * 86_400_000))
            if status == "FAILED":
                attempt = rng.choices((1, 2, 3), (45, 30, 25))[0]
            elif status == "REPROCESSED":
                attempt = randint(2, 3)
            else:
                attempt = 1 if rand() < 0.88 else 2 if rand() < 0.75 else 3
            change_sequence = randint(*CHANGE_SEQUENCES.get(status, (3, 5)))
            slice_id = _uuid(rng)
            yield (
                slice_id,
                _uuid(rng),
                status,
                organization,
                attempt,
                change_sequence,
                order,
                completed - started if completed and started else None,
                failure.message if failure else None,
                _ERROR_DETAILS[failure.message] if failure else "{}",
                f'{{"type":"pipeline.slice","executionId":"{execution}","store":"{store}","steps":[{start},{end}]}}',
                _OUTPUT_EVENTS.get(status, "{}"),
                steps_config,
                _uuid(rng) if started else None,
                _when(created),
                _when(updated),
                _when(queued),
                _when(leased),
                _when(leased + LEASE_MS if leased else None),
                _when(started),
                _when(completed),
                f'{{"id":"{slice_id}","status":"{status}","pipelineExecutionId":"{execution}",'
                f'"changeSequence":{change_sequence}}}',
                last_seen,
                _when(leased + LEASE_MS if leased and not completed else None),  # as cache.open_lease_expiry
                execution,
                runtime_id,
                start,
                end,
                _when(created),
            )
        produced += size


def _constraints(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, model._meta.db_table)


def existing_indexes(model=OrchestratorSlice) -> dict[str, list[str]]:
    """The model's table's indexes now: name → columns."""
    return {name: info["columns"] for name, info in _constraints(model).items() if info["index"]}


def columns_are_current(model=OrchestratorSlice) -> bool:
    """Whether the model's table has every column and unique column of the model as it is now (its indexes are
    compared with a fresh migrate's by `bench.indexes`).

    Migrations may be rewritten in place before a release, and the benchmark cache outlives them: a stale one
    would time a schema the code no longer has.
    """
    meta = model._meta
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, meta.db_table)}
    has_columns = {f.column for f in meta.concrete_fields} <= columns
    unique = {tuple(info["columns"]) for info in _constraints(model).values() if info["unique"]}
    has_unique = all((f.column,) in unique for f in meta.concrete_fields if f.unique and not f.primary_key)
    return has_columns and has_unique


def migrate(database: Path, log=print) -> None:
    """Bring the benchmark database to the current schema, starting it over if its tables or indexes are not
    those of the code now (a rewritten migration, an index a seeder built in another form)."""
    call_command("migrate", verbosity=0, interactive=False)
    stale = [model for model in (OrchestratorSlice, AuditEntry) if not columns_are_current(model)]
    differing = indexes.differences()
    if not stale and not differing:
        return
    why = "its tables are out of date" if stale else f"{len(differing)} indexes differ from a fresh migrate's"
    log(f"{database} was built for another schema ({why}): starting it over.")
    connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    call_command("migrate", verbosity=0, interactive=False)


def insert_statement(model, columns) -> str:
    return "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names from the model, values bound)
        connection.ops.quote_name(model._meta.db_table), ", ".join(columns), ", ".join(["%s"] * len(columns))
    )


@contextlib.contextmanager
def bulk_load(model, log=print):
    """Rows pour in fastest with the table's indexes dropped and syncing off; after, the indexes are rebuilt, the
    WAL is folded back into the file and the planner's statistics are refreshed (as a finished sync does)."""
    indexes, existing = model._meta.indexes, existing_indexes(model)
    with connection.schema_editor() as editor:
        for index in indexes:
            if index.name in existing:
                editor.remove_index(model, index)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB: the primary key and unique indexes stay in memory
    yield
    log("  rebuilding indexes ...")
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.add_index(model, index)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log("  refreshing planner statistics ...")
    refresh_statistics(model)


def ensure_rows(target: int, log=print) -> float | None:
    """Top the cache up to `target` orchestrator slices; answer the seconds it took, or None when none were missing."""
    present = OrchestratorSlice.objects.count()
    missing = target - present
    if missing <= 0:
        log(f"Cache holds {present:,} orchestrator slices: reusing them.")
        return None
    log(f"Cache holds {present:,} orchestrator slices: adding {missing:,} ...")
    began = time.perf_counter()
    sql = insert_statement(OrchestratorSlice, COLUMNS)
    now_ms = int(time.time() * 1000)
    written = 0
    with bulk_load(OrchestratorSlice, log):
        for block in batched(slice_rows(missing, f"bench:{present}", now_ms), COMMIT_EVERY):
            with transaction.atomic(), connection.cursor() as cursor:
                for rows in batched(block, BATCH):
                    cursor.executemany(sql, rows)
            written += len(block)
            log(f"  {written:>9,} rows  {time.perf_counter() - began:6.1f} s")
    seconds = time.perf_counter() - began
    log(f"  seeded in {seconds:.1f} s")
    return seconds
