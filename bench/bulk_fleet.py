"""Bulk edit at fleet size: 10,000 slices against the sandbox at 100 ms latency, concurrency 64, worked by two worker
processes on PostgreSQL, beside the limit 10,000 x 0.1 s / 64 = 15.6 s; then every audit entry is checked chained
(`verify_audit`'s walk) and every item succeeded.

The sandbox and the preparation are `bench.bulk`'s. The child process (`python -m bench.bulk_fleet`) syncs the
slices into its own database (`bench_bulk_fleet`, created afresh) and creates the job; two worker processes (the
same module with `--worker`) load Django, join nothing yet and say so; then both are told to go at once and each runs
`run_job` (what `db_worker` runs for the job's two runner tasks). The time is from that moment to the last worker's
return: the task pick-up by `db_worker` (its poll interval) is not in it.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from bench import ROOT, support
from bench.bulk import LATENCY_MS, Sandbox, item_states, new_job, prepare, run_child, sandboxed

ITEMS = 10_000
CONCURRENCY = 64
WORKERS = 2
TARGET_RATIO = 1.15
DATABASE = "bench_bulk_fleet"


def _limit() -> float:
    return ITEMS * LATENCY_MS / 1000 / CONCURRENCY


def measure(server: str) -> dict:
    """The fleet-size edit on its own database on the PostgreSQL server `server` names."""
    database = support.ensure_database(server, DATABASE, fresh=True)
    with sandboxed(ITEMS + 500) as env:
        figures = run_child("bench.bulk_fleet", env, "--database-url", database)
    seconds, limit = figures["seconds"], _limit()
    return {
        **figures,
        "items": ITEMS,
        "latency_ms": LATENCY_MS,
        "concurrency": CONCURRENCY,
        "workers": WORKERS,
        "limit_seconds": round(limit, 3),
        "ratio_to_limit": round(seconds / limit, 3),
        "target_ratio": TARGET_RATIO,
        "pass": seconds / limit <= TARGET_RATIO and figures["all_succeeded"] and figures["audit_verified"],
    }


def _worker(job_id: int) -> None:
    """One worker process: ready, then on "go" its runner's share of the job; prints when it returned."""
    from django.db import connection

    from slices_admin.bulk.runner import run_job

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    outcome = run_job(job_id)
    print(json.dumps({"ended": time.time(), "outcome": outcome, "cpu_seconds": round(time.process_time() - cpu, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--worker", type=int, metavar="JOB", help="run as one of the worker processes of this job")
    options = parser.parse_args()
    if options.worker:
        from bench import setup_django

        setup_django(options.database_url)
        _worker(options.worker)
        return
    ids = prepare(options.database_url, ITEMS)
    from django.conf import settings
    from django.db import connection

    from slices_admin.audit import chain
    from slices_admin.audit.models import AuditEntry

    sandbox = Sandbox()
    sandbox.set_latency(LATENCY_MS)
    settings.BULK_RUNNERS_PER_JOB = WORKERS
    job = new_job(ids, concurrency=CONCURRENCY)
    connection.close()
    env = {**os.environ, "BULK_RUNNERS_PER_JOB": str(WORKERS)}
    command = [sys.executable, "-m", "bench.bulk_fleet", "--database-url", options.database_url, "--worker"]
    workers = [
        subprocess.Popen(  # noqa: S603 (this interpreter, this module)
            [*command, str(job.pk)], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(WORKERS)
    ]
    for worker in workers:
        if worker.stdout is None or worker.stdout.readline().strip() != "ready":
            raise SystemExit("A worker process did not start.")
    sent = sandbox.requests_served()
    began = time.time()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    ended = [json.loads(worker.communicate()[0].strip().splitlines()[-1]) for worker in workers]
    seconds = max(one["ended"] for one in ended) - began
    requests_sent = sandbox.requests_served() - sent
    states = item_states(job)
    entries = AuditEntry.objects.filter(bulk_job_id=job.pk, action=AuditEntry.Action.UPDATE).count()
    verification = chain.verify(chain.stored_entries())
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "requests": requests_sent,
                "states": states,
                "all_succeeded": states == {"succeeded": ITEMS},
                "audit_entries": entries,
                "audit_chained": verification.checked,
                "audit_verified": verification.broken is None and entries == ITEMS,
                "workers_cpu_seconds": [one["cpu_seconds"] for one in ended],
                "outcomes": [one["outcome"] for one in ended],
                "postgres_version": support.postgres_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
