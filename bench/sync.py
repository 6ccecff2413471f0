"""Sync throughput, as a ratio measured in one run: a full `sync_slices` from the sandbox's list endpoint beside
merely fetching and JSON-decoding the same pages (the client's `list`, page after page), on SQLite or PostgreSQL.

The sandbox runs as its own process, only for this measurement, on a data file under var/ for its size (seeded on the
first run, reused after). The timing runs in a child process, `python bench/sync.py --child`, because it needs its own
database and settings pointing at the sandbox, both read when Django loads; the child prints its figures as one JSON
line.
Each round times, in this order: the fetch alone, a full sync into a cache without the sandbox's slices (every row
new), and a second full sync (every row unchanged); the medians of the rounds are reported.

On SQLite the cache is `var/bench-sync.sqlite3`. On PostgreSQL (`--server DATABASE_URL`) it is a database of its own
on that server, `<name>_sync`, and `--cached N` first puts N generated slices in it by COPY (`pgseed`, reused while
the count holds), flagged gone as a full sync would leave slices Kodexa no longer has, so each sync writes its pages
into a table of that size and its search for gone slices scans it. `--code DIR` times another checkout's console
(its `slices_admin`) with this benchmark, for figures side by side.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # the child: the console it times comes first on the path
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, os.environ.get("SYNC_BENCH_CODE", str(ROOT)))

from bench import VAR, setup_django, support  # noqa: E402
from slices_admin.sandbox.launcher import launch  # noqa: E402

TARGET_ROWS_PER_SECOND = 2000
TARGET_RATIO = 1 / 3  # the sync's rate over the fetch-and-decode rate, in the same run
PAGE_SIZE = 1000  # the sandbox's largest page
SYNC_DATABASE = VAR / "bench-sync.sqlite3"


def own_database(server_url: str) -> str:
    """The URL of the benchmark's own database on the server `server_url` names (created when missing)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(server_url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_sync"
    with psycopg.connect(server_url, autocommit=True) as server:
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(parts._replace(path=f"/{name}"))


def measure(
    rows: int, *, rounds: int = 3, server: str | None = None, cached: int = 0, code: Path | None = None
) -> dict:
    """Start the sandbox (seeding `rows` slices on the first run), time the rounds in a child process, stop it."""
    data = VAR / f"bench-sandbox-{rows}.sqlite3"  # one per size: a data file is seeded once, then reused as it is
    sandbox = launch(data, "--seed", str(rows), timeout=None)  # a new data file: seeding may take minutes
    try:
        env = {
            **os.environ,
            "KODEXA_BASE_URL": sandbox.url,
            "KODEXA_API_KEY": sandbox.api_key,
            "KODEXA_SANDBOX": "1",
            "SYNC_BENCH_ROUNDS": str(rounds),
            "SYNC_BENCH_CACHED": str(cached),
            "SYNC_BENCH_CODE": str((code or ROOT).resolve()),
        }
        if server:
            env["SYNC_BENCH_DATABASE"] = own_database(server)
        command = [sys.executable, str(Path(__file__).resolve()), "--child"]
        child = subprocess.run(command, cwd=code or ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if child.returncode:
            exited = sandbox.process.poll()
            cause = "" if exited is None else f" (the sandbox exited with code {exited}: stopped from outside?)"
            raise RuntimeError(f"The sync benchmark failed{cause}:\n{child.stderr[-5000:]}")
    finally:
        sandbox.stop()
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    passed = figures["ratio"] >= TARGET_RATIO and figures["rows_per_second"] >= TARGET_ROWS_PER_SECOND
    return {
        **figures,
        "target_rows_per_second": TARGET_ROWS_PER_SECOND,
        "target_ratio": round(TARGET_RATIO, 3),
        "pass": passed,
    }


def lines(sync: dict) -> list[str]:
    """The figures `measure` answers, as text: the sync's rate beside fetching and decoding alone, and their ratio."""
    cached = sync.get("cached_rows") or 0
    into = f"into {sync['database']} holding {cached:,} other slices" if cached else "into an empty cache"
    verdict = "PASS" if sync["pass"] else "MISS"
    return [
        f"Sync from the sandbox ({sync['mode']}, page size {sync['page_size']}, {into})",
        f"  {sync['rows']:,} rows in {sync['pages']} pages, {sync['seconds']:.1f} s wall: "
        f"{sync['rows_per_second']:,} rows/s   target >= {sync['target_rows_per_second']:,} rows/s   {verdict}",
        f"  beside fetching and decoding the same pages alone: {sync.get('fetch_rows_per_second', 0):,} rows/s, "
        f"ratio {sync.get('ratio', 0):.3f}   target >= {sync.get('target_ratio', 0.333):.3f} (medians of "
        f"{len(sync.get('rounds', [])) or 1}; unchanged rows: ratio {sync.get('unchanged_ratio', 0):.3f})",
    ]


def write(results: Path, measured: dict) -> None:
    """Merge `measured` into the results file's "sync" section, under its database and cached count."""
    key = measured["database"] + (f"_{measured['cached_rows']}_cached" if measured.get("cached_rows") else "")
    support.update_section(results, "sync", {key: measured})


def _setup() -> None:
    url = os.environ.get("SYNC_BENCH_DATABASE")
    if not url:
        setup_django(SYNC_DATABASE)
        return
    import django

    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slices_admin.settings")
    django.setup()


def _seed_gone(cached: int) -> dict:
    """N generated slices in the PostgreSQL cache, all flagged gone (none of them is the sandbox's)."""
    from django.db import connection

    from bench import pgseed
    from slices_admin.slices.models import OrchestratorSlice

    table = connection.ops.quote_name(OrchestratorSlice._meta.db_table)
    _forget_synced()  # what a previous run synced (every row not flagged gone): the seeded slices are reused
    seconds = pgseed.ensure_slices(cached, log=lambda line: print(line, file=sys.stderr), gone=True)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_total_relation_size('{table}')")
        (size,) = cursor.fetchone()
    return {"cached_rows": cached, "seed_seconds": seconds and round(seconds, 1), "table_mib": round(size / 2**20)}


def _forget_synced() -> None:
    """Remove the sandbox's slices from the cache (not timed), so the next sync writes every row anew."""
    from django.db import connection

    from slices_admin.slices.models import OrchestratorSlice

    table = connection.ops.quote_name(OrchestratorSlice._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE gone_at IS NULL")  # noqa: S608 (the seeded ones are gone)
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM {table}")


def main() -> None:
    """The child: migrate its own cache, then time the rounds."""
    _setup()
    from django.core.management import call_command
    from django.db import connection

    from bench import indexes, report
    from slices_admin.kodexa.client import get_client
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.slices.sync import sync_slices

    call_command("migrate", verbosity=0, interactive=False)
    indexes.check(log=lambda _message: None)  # refuses to measure on other indexes
    cached = int(os.environ.get("SYNC_BENCH_CACHED", "0"))
    dataset = _seed_gone(cached) if connection.vendor == "postgresql" else {"cached_rows": 0}
    client, rounds = get_client(), []
    for _ in range(int(os.environ.get("SYNC_BENCH_ROUNDS", "3"))):
        _forget_synced()
        began, fetched, number, last = time.perf_counter(), 0, 0, False
        while not last:
            number += 1
            page = client.list(ORCHESTRATOR_SLICE, page=number, page_size=PAGE_SIZE, sort="createdOn,asc")
            fetched, last = fetched + len(page.content), page.last or not page.content
        fetch_seconds = time.perf_counter() - began
        began = time.perf_counter()
        progress = sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=PAGE_SIZE)
        sync_seconds = time.perf_counter() - began
        began = time.perf_counter()
        again = sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=PAGE_SIZE)
        again_seconds = time.perf_counter() - began
        rounds.append(
            {
                "fetch_rows_per_second": round(fetched / fetch_seconds),
                "rows_per_second": round(progress.records / sync_seconds),
                "unchanged_rows_per_second": round(again.records / again_seconds),
                "ratio": round((progress.records / sync_seconds) / (fetched / fetch_seconds), 3),
                "unchanged_ratio": round((again.records / again_seconds) / (fetched / fetch_seconds), 3),
                "seconds": round(sync_seconds, 2),
                "fetch_seconds": round(fetch_seconds, 2),
                "pages": progress.pages,
                "rows": progress.records,
                "gone": progress.gone + again.gone,
            }
        )
        print(json.dumps(rounds[-1]), file=sys.stderr)
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0] if key not in ("pages", "rows")}
    figures = {
        "mode": "full",
        "database": connection.vendor,
        "page_size": PAGE_SIZE,
        "pages": rounds[-1]["pages"],
        "rows": rounds[-1]["rows"],
        "sandbox_total": progress.expected,
        **dataset,
        **median,
        "rounds": rounds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "code": report.code_version(Path(os.environ.get("SYNC_BENCH_CODE", ROOT))),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
    }
    print(json.dumps(figures))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/sync.py", description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=100_000, help="slices in the sandbox")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (medians reported)")
    parser.add_argument("--server", metavar="DATABASE_URL", help="PostgreSQL server to measure on (own database)")
    parser.add_argument("--cached", type=int, default=0, help="PostgreSQL: generated slices already cached")
    parser.add_argument("--code", type=Path, help="another checkout whose console to time")
    parser.add_argument("--results", type=Path, help="JSON file to merge the figures into (its 'sync' section)")
    return parser.parse_args()


if __name__ == "__main__":
    options = _arguments()
    if options.child:
        main()
    else:
        measured = measure(
            options.rows, rounds=options.rounds, server=options.server, cached=options.cached, code=options.code
        )
        print(json.dumps(measured, indent=1))
        print("\n".join(["", *lines(measured)]))
        if options.results:
            write(options.results, measured)
