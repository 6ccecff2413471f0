"""Bulk edit throughput: 1,000 slices against the sandbox at 100 ms latency, concurrency 16, beside the limit
1,000 x 0.1 s / 16 = 6.25 s and beside the same edit sent one slice at a time; on SQLite and, given a PostgreSQL
server, on its own database there (`bench_bulk`, created afresh) in the same run.

The sandbox runs as its own process on a fresh data file. The edits run in a child process, `python -m
bench.bulk`, with its own database (`var/bench-bulk.sqlite3`, emptied first, or the PostgreSQL one) and settings
pointing at the sandbox: it syncs the slices into its cache, then times the runner (the code `db_worker` runs) on
sets of 1,000 distinct slices: the default way, reading every slice before its PUT, and (on SQLite) one at a time.
It prints its figures as one JSON line. `bench.bulk_fleet` uses the same sandbox and preparation for 10,000.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from bench import ROOT, VAR, setup_django, support
from slices_admin.sandbox.launcher import launch

ITEMS = 1000
LATENCY_MS = 100
CONCURRENCY = 16
TARGET_RATIO = 1.25
DATABASE = VAR / "bench-bulk.sqlite3"
POSTGRES_DATABASE = "bench_bulk"
SANDBOX_DATA = VAR / "bench-bulk-sandbox.sqlite3"


def _limit(items: int = ITEMS, concurrency: int = CONCURRENCY) -> float:
    return items * LATENCY_MS / 1000 / concurrency


@contextlib.contextmanager
def sandboxed(slices: int) -> Iterator[dict[str, str]]:
    """A fresh sandbox seeded with `slices`: the environment a child process talks to it with; stopped after."""
    for stale in (SANDBOX_DATA, SANDBOX_DATA.with_name(SANDBOX_DATA.name + "-wal")):
        stale.unlink(missing_ok=True)
    sandbox = launch(SANDBOX_DATA, "--seed", str(slices), timeout=None)
    try:
        yield {
            **os.environ,
            "KODEXA_BASE_URL": sandbox.url,
            "KODEXA_API_KEY": sandbox.api_key,
            "KODEXA_SANDBOX": "1",
            "KODEXA_READ_TIMEOUT": "30",
        }
    finally:
        sandbox.stop()


def run_child(module: str, env: dict[str, str], *arguments: str) -> dict:
    """Run `python -m module arguments` and return the JSON line it prints last."""
    command = [sys.executable, "-m", module, *arguments]
    child = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if child.returncode:
        raise RuntimeError(f"The benchmark {module} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _measure_on(database: str | None) -> dict:
    """The timed edits on SQLite (`database` None) or on the PostgreSQL database at that URL."""
    arguments = ["--database-url", database] if database else ["--one-by-one"]
    with sandboxed(3 * ITEMS + 500) as env:
        figures = run_child("bench.bulk", env, *arguments)
    limit = _limit()
    concurrent = figures["concurrent"]["seconds"]
    measured = {
        **figures,
        "items": ITEMS,
        "latency_ms": LATENCY_MS,
        "concurrency": CONCURRENCY,
        "limit_seconds": limit,
        "ratio_to_limit": round(concurrent / limit, 3),
        "target_ratio": TARGET_RATIO,
        "pass": concurrent / limit <= TARGET_RATIO and figures["all_succeeded"],
    }
    if "one_by_one" in figures:
        measured["speedup_over_one_by_one"] = round(figures["one_by_one"]["seconds"] / concurrent, 1)
    return measured


def measure(server: str | None = None) -> dict:
    """1,000 @ 16 on SQLite; with `server` (a PostgreSQL DATABASE_URL) also on its own database there, under the
    "postgres" key."""
    figures = _measure_on(None)
    if server:
        database = support.ensure_database(server, POSTGRES_DATABASE, fresh=True)
        figures["postgres"] = _measure_on(database)
    return figures


# --- the child process ------------------------------------------------------------------------------------------
def prepare(database: str | None, count: int) -> list[str]:
    """Django on the benchmark's database (SQLite's file when None), emptied and synced from the sandbox; the ids
    of `count` slices to change."""
    setup_django(database or DATABASE)
    from django.core.management import call_command

    from bench import indexes
    from slices_admin.bulk.models import BulkEditItem, BulkEditJob
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.slices.models import OrchestratorSlice
    from slices_admin.slices.sync import sync_slices

    call_command("migrate", verbosity=0, interactive=False)
    indexes.check(log=lambda _message: None)  # refuses to measure on other indexes
    BulkEditItem.objects.all().delete()
    BulkEditJob.objects.all().delete()
    OrchestratorSlice.objects.all().delete()
    sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=1000)
    candidates = list(
        OrchestratorSlice.objects.exclude(status="CANCELLED").order_by("id").values_list("id", flat=True)[:count]
    )
    if len(candidates) < count:
        raise SystemExit(f"The sandbox holds only {len(candidates)} slices to change; {count} are needed.")
    return candidates


class Sandbox:
    """The sandbox's controls, as the child process reaches them."""

    def __init__(self) -> None:
        from django.conf import settings

        self.url, self.key = settings.KODEXA_BASE_URL, {"x-api-key": settings.KODEXA_API_KEY}

    def set_latency(self, ms: int) -> None:
        import requests

        answer = requests.put(f"{self.url}/_sandbox/faults", json={"latencyMs": ms}, headers=self.key, timeout=10)
        answer.raise_for_status()

    def requests_served(self) -> int:
        import requests

        served: int = requests.get(f"{self.url}/_sandbox/stats", headers=self.key, timeout=10).json()["requests"]
        return served


def new_job(ids: list[str], *, concurrency: int):
    """A confirmed job setting CANCELLED on these slices, as the bulk edit page creates it."""
    from django.conf import settings

    from slices_admin.audit.services import AuditContext
    from slices_admin.bulk.changes import Change
    from slices_admin.bulk.services import Selection, create_job

    settings.BULK_CONCURRENCY = concurrency
    settings.BULK_CONFIRM_THRESHOLD = len(ids) * 10
    change = Change("CANCELLED", reason="benchmark")
    return create_job(Selection.from_ids(ids), change, context=AuditContext.system("bench"), confirmed_count=len(ids))


def item_states(job) -> dict[str, int]:
    from django.db.models import Count

    return dict(job.items.order_by().values_list("state").annotate(n=Count("id")))


def main() -> None:
    """The child: an empty cache synced from the sandbox, then the timed bulk edits of distinct slices."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", help="a PostgreSQL database (default: SQLite's file)")
    parser.add_argument("--one-by-one", action="store_true", help="also time the edit sent one slice at a time")
    options = parser.parse_args()
    candidates = prepare(options.database_url, 3 * ITEMS)
    from django.conf import settings
    from django.db import connection

    from slices_admin.bulk.runner import run_job

    sandbox = Sandbox()
    sandbox.set_latency(LATENCY_MS)
    settings.BULK_RUNNERS_PER_JOB = 1  # one worker process, as on SQLite: all the job's threads in one runner

    def timed(ids: list[str], *, concurrency: int, read_first: bool) -> dict:
        settings.BULK_READ_BEFORE_WRITE = read_first
        job = new_job(ids, concurrency=concurrency)
        sent = sandbox.requests_served()
        began = time.perf_counter()
        run_job(job.pk)
        seconds = time.perf_counter() - began
        requests_sent = sandbox.requests_served() - sent
        return {"seconds": round(seconds, 2), "requests": requests_sent, "states": item_states(job)}

    concurrent = timed(candidates[:ITEMS], concurrency=CONCURRENCY, read_first=False)
    read_first = timed(candidates[ITEMS : 2 * ITEMS], concurrency=CONCURRENCY, read_first=True)
    figures = {
        "database": connection.vendor,
        "concurrent": concurrent,
        "read_before_write": {**read_first, "ratio_to_limit": round(read_first["seconds"] / _limit(), 3)},
    }
    runs = [concurrent, read_first]
    if options.one_by_one:
        figures["one_by_one"] = timed(candidates[2 * ITEMS :], concurrency=1, read_first=False)
        runs.append(figures["one_by_one"])
    figures["all_succeeded"] = all(run["states"] == {"succeeded": ITEMS} for run in runs)
    if connection.vendor == "postgresql":
        figures["postgres_version"] = support.postgres_version()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
