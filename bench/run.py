"""`make bench`: seed a million cached slices and a million audit entries, and measure the console against the
numbers it is held to.

Measures, in one run, six sections (`--only` runs one of them):
- "browsing": the list fragment beside Django admin's changelist for the same searches, sync throughput from the
  sandbox, and CSV export memory;
- "browsing-postgres" (with `--server`, a PostgreSQL server's DATABASE_URL): the list fragment, the JSON API's list
  and the changelist at 1,000,000 and 10,000,000 cached slices (`--pg-sizes`), each size in its own database on that
  server, seeded by COPY on the first run; the disk each takes and the cost of writing a sync page into it;
- "sync-postgres" (with `--server`): sync throughput as in "browsing", into a PostgreSQL cache already holding
  `--pg-sync-cached` slices (1,000,000; its own database, seeded by COPY on the first run), written under "sync";
- "audit": the first, a middle and the last page of the audit log for three filters (and none), and the memory of
  its CSV and JSON Lines exports;
- "bulk": a bulk status edit of 1,000 slices against the sandbox at 100 ms latency, beside its limit and beside the
  same edit sent one slice at a time (its own sandbox and database); given `--server` (a PostgreSQL DATABASE_URL),
  the same edit on its own database there ("postgres") and 10,000 slices at concurrency 64 worked by two worker
  processes ("fleet");
- "bulk-controls": the undo of a 1,000-slice edit beside the same limit, and a 1,000-slice edit at a maximum rate of
  20 requests/s measured at the sandbox, three runs each (fresh sandboxes and databases), written with their medians
  under "undo" and "rate" in the "bulk" section.
Prints a table of every figure with its target and PASS/MISS, and writes each section's figures to its section of
`bench/results.json`. The cache and the audit log live in `var/bench.sqlite3` and are seeded only when they hold
fewer rows than asked, so later runs start measuring at once. A missed target does not fail the run: these are
benchmarks, not tests.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is the import root

import bench
from bench import RESULTS, ROOT, VAR, setup_django, support, sync

SYNC_ROWS = 100_000
SECTIONS = ("browsing", "browsing-postgres", "sync-postgres", "audit", "bulk", "bulk-controls")
PG_SIZES = "1000000,10000000"
PG_SYNC_CACHED = 1_000_000
CONTROL_KEYS = ("undo", "rate")  # of the "bulk" section, written by "bulk-controls"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="orchestrator slices in the cache")
    parser.add_argument("--audit-rows", type=int, default=1_000_000, help="entries in the audit log")
    parser.add_argument("--only", choices=SECTIONS, help="measure one section (default: all)")
    parser.add_argument("--rounds", type=int, default=20, help="timed requests per combination and side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
    parser.add_argument("--control-runs", type=int, default=3, help="runs of the bulk undo and rate benchmarks")
    parser.add_argument("--database", type=Path, default=VAR / "bench.sqlite3", help="SQLite file of the cache")
    parser.add_argument("--server", help="DATABASE_URL of a PostgreSQL server (bulk and browsing-postgres sections)")
    parser.add_argument("--pg-sizes", default=PG_SIZES, help="cache sizes of browsing-postgres, comma-separated")
    parser.add_argument(
        "--pg-sync-cached", type=int, default=PG_SYNC_CACHED, help="sync-postgres: slices cached before it syncs"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # run by this script: no lock
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the figures are merged into")
    return parser.parse_args()


def _dataset(database: Path, seed_seconds: float | None, **counts: int) -> dict:
    """What a section measured on: its row counts, the database and how long seeding it took."""
    return {
        **counts,
        "database": str(database.resolve().relative_to(ROOT, walk_up=True)),
        "database_mib": round(database.stat().st_size / 1024**2),
        "seed_seconds": None if seed_seconds is None else round(seed_seconds, 1),
    }


def _browsing(options: argparse.Namespace, code: dict, seed_seconds: float | None) -> None:
    """Measure the "browsing" section, print its table and write its figures."""
    from bench import browsing, export, report
    from slices_admin.slices.models import OrchestratorSlice

    began = time.perf_counter() - (seed_seconds or 0)  # the section's time includes its seeding
    print("List fragment vs admin changelist ...")
    listing = browsing.measure(options.rounds, options.warmup)
    print("CSV export ...")
    exported = export.measure(browsing.logged_in("operator"), [("status", "REPROCESSED")])
    print("Sync from the sandbox ...")
    synced = sync.measure(SYNC_ROWS)
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "code": code,
        "run_seconds": round(time.perf_counter() - began, 1),
        "dataset": _dataset(options.database, seed_seconds, orchestrator_slices=OrchestratorSlice.objects.count()),
        "list_fragment": {
            "page_size": browsing.PAGE_SIZE,
            "target_p95_ms": browsing.TARGET_P95_MS,
            "timed_requests": options.rounds,
            "warmup_requests": options.warmup,
            "combinations": listing,
        },
        "sync": synced,
        "csv_export": exported,
    }
    print()
    print(report.table(figures))
    support.write_section(options.results, "browsing", figures)
    print(f"\nBrowsing: {figures['run_seconds']:.0f} s. Figures written to {options.results}.\n")


def _browsing_postgres(options: argparse.Namespace, code: dict) -> None:
    """Measure the "browsing-postgres" section (Django on the server's databases), print its table, write it."""
    from bench import pgbrowsing, pgreport, report

    began = time.perf_counter()
    sizes = [int(size) for size in options.pg_sizes.split(",")]
    measured = pgbrowsing.measure(options.server, sizes, options.rounds, options.warmup, log=support.log)
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**report.machine(), "postgresql": support.postgres_version()},
        "code": code,
        "run_seconds": round(time.perf_counter() - began, 1),
        **measured,
    }
    print()
    print(pgreport.table(figures))
    support.write_section(options.results, "browsing_postgres", figures)
    print(f"\nBrowsing on PostgreSQL: {figures['run_seconds']:.0f} s. Figures written to {options.results}.\n")


def _postgres_child(options: argparse.Namespace) -> None:
    """The PostgreSQL section in a child process: Django loads on one database per process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--only", "browsing-postgres"]
    command += ["--server", options.server, "--pg-sizes", options.pg_sizes, "--results", str(options.results)]
    command += ["--rounds", str(options.rounds), "--warmup", str(options.warmup), "--child"]
    subprocess.run(command, check=True)  # noqa: S603 (this script, with the options it was given)


def _audit(options: argparse.Namespace, code: dict, seed_seconds: float | None) -> None:
    """Measure the "audit" section, print its table and write its figures."""
    from bench import audit, report
    from slices_admin.audit.models import AuditEntry

    began = time.perf_counter() - (seed_seconds or 0)
    measured = audit.measure(options.rounds, options.warmup)
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "code": code,
        "run_seconds": round(time.perf_counter() - began, 1),
        "dataset": _dataset(options.database, seed_seconds, audit_entries=AuditEntry.objects.count()),
        **measured,
    }
    print()
    print(report.audit_table(figures))
    support.write_section(options.results, "audit", figures)
    print(f"\nAudit: {figures['run_seconds']:.0f} s. Figures written to {options.results}.\n")


def _bulk(code: dict, results: Path, server: str | None) -> None:
    """Measure the "bulk" section (its own sandboxes and databases, in child processes), print and write it."""
    from bench import bulk, bulk_fleet, report

    began = time.perf_counter()
    where = "SQLite and PostgreSQL" if server else "SQLite (no --server: no PostgreSQL runs)"
    print(f"Bulk edit of 1,000 slices at 100 ms latency on {where} ...")
    measured = bulk.measure(server)
    if server:
        print("Bulk edit of 10,000 slices at 100 ms latency, concurrency 64, two workers on PostgreSQL ...")
        measured["fleet"] = bulk_fleet.measure(server)
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "code": code,
        "run_seconds": round(time.perf_counter() - began, 1),
        **measured,
    }
    print()
    print(report.bulk_table(figures))
    support.write_section(results, "bulk", figures, keep=CONTROL_KEYS)
    print(f"\nBulk: {figures['run_seconds']:.0f} s. Figures written to {results}.\n")


def _bulk_controls(code: dict, results: Path, runs: int) -> None:
    """Measure the undo and the maximum rate (fresh sandboxes and databases, child processes), print and write them
    under their keys of the "bulk" section."""
    from bench import bulk_controls

    began = time.perf_counter()
    print(f"Undo of a 1,000-slice bulk edit, and one at {bulk_controls.MAX_RATE:g} requests/s: {runs} runs ...")
    measured = bulk_controls.measure(runs=runs)
    stamp = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code,
        "run_seconds": round(time.perf_counter() - began, 1),  # both benchmarks, all runs
    }
    figures = {key: {**stamp, **measured[key]} for key in CONTROL_KEYS}
    print()
    print(bulk_controls.table(measured["undo"], measured["rate"]))
    support.update_section(results, "bulk", figures)
    print(f"\nBulk controls: {time.perf_counter() - began:.0f} s. Figures written to {results}.\n")


def _sync_postgres(options: argparse.Namespace) -> None:
    """Sync throughput on PostgreSQL into a cache already holding `--pg-sync-cached` slices (`bench/sync.py`, its
    own database `<name>_sync` on the server, COPY-seeded on the first run), written under "sync" in the results."""
    print(f"Sync from the sandbox into PostgreSQL holding {options.pg_sync_cached:,} slices ...")
    measured = sync.measure(SYNC_ROWS, server=options.server, cached=options.pg_sync_cached)
    print("\n".join(["", *sync.lines(measured), ""]))
    sync.write(options.results, measured)


def main() -> None:
    options = _arguments()
    if not options.child:
        _lock = support.one_at_a_time()  # held until the process ends
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the sandbox
    sections = [options.only] if options.only else list(SECTIONS)
    for needs_server in ("browsing-postgres", "sync-postgres"):
        if needs_server in sections and not options.server:
            print(f"{needs_server}: no --server given (a PostgreSQL DATABASE_URL), skipped.")
            sections.remove(needs_server)
    if sections == ["sync-postgres"]:  # no Django here: the sync runs in a child of its own
        _sync_postgres(options)
        return
    if sections == ["browsing-postgres"]:
        os.environ["API_RATE_LIMIT"] = ""  # the benchmark asks the API's list hundreds of times a minute
        setup_django(options.server)
        from bench import report

        _browsing_postgres(options, report.code_version(ROOT))
        return
    setup_django(options.database)
    from bench import audit_seed, indexes, report, seed

    code = report.code_version(ROOT)  # what this process loaded, before anyone commits again
    print(f"Cache database {options.database}; the console's log lines go to {bench.LOG.relative_to(ROOT)}")
    seed.migrate(options.database)
    seeded = {}
    if "browsing" in sections:
        seeded["browsing"] = seed.ensure_rows(options.rows)
    if "audit" in sections:  # before the benchmark users sign in (audited): the seeded year then ends now
        seeded["audit"] = audit_seed.ensure_entries(options.audit_rows)
    if "browsing" in sections or "audit" in sections:
        indexes.check()  # after seeding, before measuring: the indexes a fresh migrate builds, or no figures
    if "browsing" in sections:
        _browsing(options, code, seeded["browsing"])
    if "audit" in sections:
        _audit(options, code, seeded["audit"])
    if "browsing-postgres" in sections:
        _postgres_child(options)
    if "sync-postgres" in sections:
        _sync_postgres(options)
    if "bulk" in sections:
        _bulk(code, options.results, options.server)
    if "bulk-controls" in sections:
        _bulk_controls(code, options.results, options.control_runs)


if __name__ == "__main__":
    main()
