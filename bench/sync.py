"""Sync throughput: a full `sync_slices` from the sandbox's list endpoint into an empty cache.

The sandbox runs as its own process, only for this measurement, on a data file under var/ (seeded on the first
run, reused after). The sync runs in a child process, `python -m bench.sync`, because it needs its own database
(`var/bench-sync.sqlite3`, emptied first) and settings pointing at the sandbox, both read when Django loads; the
child prints its figures as one JSON line.
"""

import json
import os
import subprocess
import sys
import time

from bench import ROOT, VAR, setup_django
from slices_admin.sandbox.launcher import launch

TARGET_ROWS_PER_SECOND = 2000
PAGE_SIZE = 1000  # the sandbox's largest page
SANDBOX_DATA = VAR / "bench-sandbox.sqlite3"
SYNC_DATABASE = VAR / "bench-sync.sqlite3"


def measure(rows: int) -> dict:
    """Start the sandbox (seeding `rows` slices on the first run), time the sync in a child process, stop it."""
    sandbox = launch(SANDBOX_DATA, "--seed", str(rows), timeout=None)  # a new data file: seeding may take minutes
    try:
        env = {
            **os.environ,
            "KODEXA_BASE_URL": sandbox.url,
            "KODEXA_API_KEY": sandbox.api_key,
            "KODEXA_SANDBOX": "1",
        }
        child = subprocess.run(
            [sys.executable, "-m", "bench.sync"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if child.returncode:
            exited = sandbox.process.poll()
            cause = "" if exited is None else f" (the sandbox exited with code {exited}: stopped from outside?)"
            raise RuntimeError(f"The sync benchmark failed{cause}:\n{child.stderr}")
    finally:
        sandbox.stop()
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    passed = figures["rows_per_second"] >= TARGET_ROWS_PER_SECOND
    return {**figures, "target_rows_per_second": TARGET_ROWS_PER_SECOND, "pass": passed}


def main() -> None:
    """The child: migrate and empty its own cache, then time one full sync."""
    setup_django(SYNC_DATABASE)
    from django.core.management import call_command

    from bench import indexes
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.slices.models import OrchestratorSlice
    from slices_admin.slices.sync import sync_slices

    call_command("migrate", verbosity=0, interactive=False)
    indexes.check(log=lambda _message: None)  # refuses to measure on other indexes
    OrchestratorSlice.objects.all().delete()
    began = time.perf_counter()
    progress = sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=PAGE_SIZE)
    seconds = time.perf_counter() - began
    cached = OrchestratorSlice.objects.count()
    figures = {
        "mode": "full",
        "page_size": PAGE_SIZE,
        "pages": progress.pages,
        "rows": progress.records,
        "rows_in_cache_after": cached,
        "sandbox_total": progress.expected,
        "seconds": round(seconds, 2),
        "rows_per_second": round(progress.records / seconds),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
