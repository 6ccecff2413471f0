"""Bulk edit throughput: 1,000 slices against the sandbox at 100 ms latency, concurrency 16, beside the limit
1,000 x 0.1 s / 16 = 6.25 s and beside the same edit sent one slice at a time.

The sandbox runs as its own process on a fresh data file. The edits run in a child process, `python -m
bench.bulk`, with its own database (`var/bench-bulk.sqlite3`, emptied first) and settings pointing at the sandbox:
it syncs the slices into its cache, then times the runner (the code `db_worker` runs) on three sets of 1,000
distinct slices: the default way, reading every slice before its PUT, and one at a time. It prints its figures as
one JSON line.
"""

import json
import os
import subprocess
import sys
import time

from bench import ROOT, VAR, setup_django
from slices_admin.sandbox.launcher import launch

ITEMS = 1000
LATENCY_MS = 100
CONCURRENCY = 16
TARGET_RATIO = 1.25
SANDBOX_SLICES = 3 * ITEMS + 500
DATABASE = VAR / "bench-bulk.sqlite3"
SANDBOX_DATA = VAR / "bench-bulk-sandbox.sqlite3"


def _limit() -> float:
    return ITEMS * LATENCY_MS / 1000 / CONCURRENCY


def measure() -> dict:
    """A fresh sandbox, the three timed edits in a child process, the sandbox stopped."""
    for stale in (SANDBOX_DATA, SANDBOX_DATA.with_name(SANDBOX_DATA.name + "-wal")):
        stale.unlink(missing_ok=True)
    sandbox = launch(SANDBOX_DATA, "--seed", str(SANDBOX_SLICES), timeout=None)
    try:
        env = {
            **os.environ,
            "KODEXA_BASE_URL": sandbox.url,
            "KODEXA_API_KEY": sandbox.api_key,
            "KODEXA_SANDBOX": "1",
            "KODEXA_READ_TIMEOUT": "30",
        }
        child = subprocess.run(
            [sys.executable, "-m", "bench.bulk"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if child.returncode:
            raise RuntimeError(f"The bulk benchmark failed:\n{child.stderr[-4000:]}")
    finally:
        sandbox.stop()
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    limit = _limit()
    concurrent = figures["concurrent"]["seconds"]
    return {
        **figures,
        "items": ITEMS,
        "latency_ms": LATENCY_MS,
        "concurrency": CONCURRENCY,
        "limit_seconds": limit,
        "ratio_to_limit": round(concurrent / limit, 3),
        "speedup_over_one_by_one": round(figures["one_by_one"]["seconds"] / concurrent, 1),
        "target_ratio": TARGET_RATIO,
        "pass": concurrent / limit <= TARGET_RATIO and figures["all_succeeded"],
    }


def main() -> None:
    """The child: an empty cache synced from the sandbox, then three timed bulk edits of distinct slices."""
    setup_django(DATABASE)
    import requests
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Count

    from bench import indexes
    from slices_admin.audit.services import AuditContext
    from slices_admin.bulk.changes import Change
    from slices_admin.bulk.models import BulkEditItem, BulkEditJob
    from slices_admin.bulk.runner import run_job
    from slices_admin.bulk.services import Selection, create_job
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
        OrchestratorSlice.objects.exclude(status="CANCELLED").order_by("id").values_list("id", flat=True)[: 3 * ITEMS]
    )
    if len(candidates) < 3 * ITEMS:
        raise SystemExit(f"The sandbox holds only {len(candidates)} slices to change; {3 * ITEMS} are needed.")

    faults = f"{settings.KODEXA_BASE_URL}/_sandbox/faults"
    stats = f"{settings.KODEXA_BASE_URL}/_sandbox/stats"
    key = {"x-api-key": settings.KODEXA_API_KEY}
    requests.put(faults, json={"latencyMs": LATENCY_MS}, headers=key, timeout=10).raise_for_status()
    settings.BULK_CONFIRM_THRESHOLD = ITEMS * 10

    def timed(ids: list[str], *, concurrency: int, read_first: bool) -> dict:
        settings.BULK_CONCURRENCY = concurrency
        settings.BULK_READ_BEFORE_WRITE = read_first
        change = Change("CANCELLED", reason="benchmark")
        context = AuditContext.system("bench")
        job = create_job(Selection.from_ids(ids), change, context=context, confirmed_count=len(ids))
        sent = requests.get(stats, headers=key, timeout=10).json()["requests"]
        began = time.perf_counter()
        run_job(job.pk)
        seconds = time.perf_counter() - began
        requests_sent = requests.get(stats, headers=key, timeout=10).json()["requests"] - sent
        states = dict(job.items.order_by().values_list("state").annotate(n=Count("id")))
        return {"seconds": round(seconds, 2), "requests": requests_sent, "states": states}

    concurrent = timed(candidates[:ITEMS], concurrency=CONCURRENCY, read_first=False)
    read_first = timed(candidates[ITEMS : 2 * ITEMS], concurrency=CONCURRENCY, read_first=True)
    one_by_one = timed(candidates[2 * ITEMS :], concurrency=1, read_first=False)
    runs = (concurrent, read_first, one_by_one)
    figures = {
        "concurrent": concurrent,
        "read_before_write": {**read_first, "ratio_to_limit": round(read_first["seconds"] / _limit(), 3)},
        "one_by_one": one_by_one,
        "all_succeeded": all(run["states"] == {"succeeded": ITEMS} for run in runs),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
