"""`make bench`: seed a million cached slices and measure the console against the numbers it is held to.

Measures, in one run: the list fragment beside Django admin's changelist for the same searches, sync throughput
from the sandbox, and CSV export memory. Prints a table of every figure with its target and PASS/MISS, and writes
the figures to the "browsing" section of `bench/results.json`. The cache lives in `var/bench.sqlite3` and is seeded
only when it holds fewer rows than asked, so later runs start measuring at once. A missed target does not fail the
run: these are benchmarks, not tests.
"""

import argparse
import fcntl
import signal
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is the import root

from bench import ROOT, VAR, setup_django, sync

RESULTS = ROOT / "bench" / "results.json"
SYNC_ROWS = 100_000


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="orchestrator slices in the cache")
    parser.add_argument("--rounds", type=int, default=20, help="timed requests per combination and side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
    parser.add_argument("--database", type=Path, default=VAR / "bench.sqlite3", help="SQLite file of the cache")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the figures are merged into")
    return parser.parse_args()


def _one_at_a_time() -> object:
    """Hold the benchmark lock: two runs at once share the CPU and the cache database and spoil each other's figures."""
    VAR.mkdir(exist_ok=True)
    lock = (VAR / "bench.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("Another make bench is running: waiting for it to finish ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def main() -> None:
    options = _arguments()
    _lock = _one_at_a_time()  # held until the process ends
    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # whitenoise: static files are not collected
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the sandbox
    began = time.perf_counter()
    setup_django(options.database)
    from bench import browsing, export, report, seed
    from slices_admin.slices.models import OrchestratorSlice

    code = report.code_version(ROOT)  # what this process loaded, before anyone commits again
    print(f"Cache database {options.database}")
    seed.migrate(options.database)
    seed_seconds = seed.ensure_rows(options.rows)
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
        "dataset": {
            "orchestrator_slices": OrchestratorSlice.objects.count(),
            "database": str(options.database.resolve().relative_to(ROOT, walk_up=True)),
            "database_mib": round(options.database.stat().st_size / 1024**2),
            "seed_seconds": None if seed_seconds is None else round(seed_seconds, 1),
        },
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
    report.write_section(options.results, "browsing", figures)
    print(f"\nTotal {figures['run_seconds']:.0f} s. Figures written to {options.results}.")


if __name__ == "__main__":
    main()
