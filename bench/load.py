"""`make load`: the production-style stack on PostgreSQL under 50 people browsing while a bulk edit runs.

Seeds (first run only) its own PostgreSQL database with 1,000,000 cached orchestrator slices and 1,000,000 audit
entries (`bench/pgseed.py`), lays out a fresh sandbox holding the slices a 1,000-slice bulk edit will change (also
put in the cache, as a sync would), vacuums the slice and audit tables (as autovacuum would have: every run
starts from the same state), then starts `manage.py serve` as a child (gunicorn, the background workers,
the sandbox) and waits for `/readyz`. It sets the sandbox's latency so that the bulk edit lasts about the measured
window and runs Locust headless in a second process (`bench/locustfile.py`): 50 people sign in through the login
form, and once the last has, they browse lists, filters, details, the audit log and the bulk edit's page: the
first 15 seconds warm the server (not measured), then the 60-second window begins, and the driver starts the edit
through `POST /api/v1/bulk-edits` with an operator's token.
After the window it waits for the edit to end, stops everything, and prints requests/s, p50/p95/p99 (overall and
per page type), the errors (sign-ins included), the sign-ins' own figures and the bulk edit's progress and outcome,
with PASS/FAIL against the target (no errors, p95 <= 300 ms); the figures go to the "load" section of
`bench/results.json`. Locust's files, the server's log and the targets the people pick from are in var/load/.

A benchmark, not a test: a missed target is reported, and the exit status is 0 unless something failed to run.
"""

import argparse
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is the import root

from bench import RESULTS, ROOT, VAR
from bench.load_locust import WORK, Locust, locust_figures
from bench.load_report import (
    TARGET_P95_MS,
    THINK_SECONDS,
    cpu_by_part,
    cpu_used,
    database_mib,
    server_times,
    shown,
    table,
)
from bench.load_stack import BulkEdit, Stack, job_summary, seconds_between, set_latency
from bench.support import ensure_database, free_port, log, one_at_a_time, postgres_version, write_section

SANDBOX_DATA = VAR / "load-sandbox.sqlite3"
BULK_SEED = 20_260_000  # the sandbox seed of the bulk edit's slices: the same ids every run
BULK_WAIT = 180  # longest wait for the bulk edit to end after the window


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/load.py", description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="DATABASE_URL of the PostgreSQL server (scripts/postgres.sh)")
    parser.add_argument("--database", default="console_load", help="the load benchmark's own database on it")
    parser.add_argument("--rows", type=int, default=1_000_000, help="orchestrator slices in the cache")
    parser.add_argument("--audit-rows", type=int, default=1_000_000, help="entries in the audit log (at least)")
    parser.add_argument("--users", type=int, default=50, help="concurrent Locust users")
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--seconds", type=int, default=60, help="length of the measured run")
    parser.add_argument("--warmup", type=int, default=15, help="seconds of browsing before it, not measured")
    parser.add_argument("--web-workers", type=int, help="gunicorn worker processes (default: serve's)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: serve's)")
    parser.add_argument("--workers", type=int, default=2, help="background worker processes")
    parser.add_argument("--bulk-items", type=int, default=1000, help="slices the bulk edit changes")
    parser.add_argument(
        "--bulk-latency-ms", type=int, default=900, help="the sandbox's latency: at the default concurrency of 16, "
        "900 ms makes a 1,000-slice edit last about the 60-second window"
    )  # fmt: skip
    parser.add_argument("--seed-only", action="store_true", help="prepare the database and the sandbox, then stop")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the figures are merged into")
    return parser.parse_args()


# --- the database --------------------------------------------------------------------------------------------------
def _setup_django(database_url: str, sandbox_port: int) -> dict[str, str]:
    """Point this process (and the environment of the stack it starts) at the load database and its sandbox."""
    import django

    if "KODEXA_BASE_URL" in os.environ:
        raise SystemExit("make load drives the sandbox: unset KODEXA_BASE_URL.")
    environment = {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "slices_admin.settings",
        "KODEXA_SANDBOX_PORT": str(sandbox_port),
        "KODEXA_SANDBOX_DATA": str(SANDBOX_DATA),
    }
    os.environ.update(environment)
    django.setup()
    return environment


def _bulk_records(count: int) -> tuple[list[dict], list[str]]:
    """The sandbox's slices (the same every run) and the ids of `count` of them the edit changes to CANCELLED."""
    from slices_admin.sandbox.seed import orchestrator_slices

    records = list(orchestrator_slices(count + count // 4, BULK_SEED, datetime.now(UTC)))
    ids = [record["id"] for record in records if record["status"] != "CANCELLED"][:count]
    if len(ids) < count:
        raise SystemExit(f"The sandbox's data holds only {len(ids)} slices the edit can change.")
    return records, ids


def _sandbox_ids() -> set[str]:
    """The orchestrator slices in last run's sandbox file, if any."""
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.sandbox.store import PageQuery, SliceStore

    if not SANDBOX_DATA.exists():
        return set()
    store = SliceStore(SANDBOX_DATA)
    try:
        path = ORCHESTRATOR_SLICE.path
        query = PageQuery({}, None, "id", False, 0, store.count(path))
        return {json.loads(body)["id"] for body in store.page(path, query)[1]}
    finally:
        store.close()


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def prepare(options: argparse.Namespace) -> dict:
    """Migrate, seed what is missing, lay out a fresh sandbox and cache its slices, create the demo users."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bench import indexes, pgseed
    from slices_admin.audit.models import AuditEntry
    from slices_admin.audit.services import AuditContext
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.sandbox.store import SliceStore
    from slices_admin.slices.cache import cache_records
    from slices_admin.slices.models import OrchestratorSlice
    from slices_admin.tokens.services import issue_token

    call_command("migrate", verbosity=0, interactive=False)
    records, ids = _bulk_records(options.bulk_items)
    # Last run's copies of the sandbox's slices (changed by its edit) go, so the cache holds only the seeded rows.
    OrchestratorSlice.objects.filter(id__in=_sandbox_ids() | {record["id"] for record in records}).delete()
    seeded = {
        "slices_seed_seconds": _rounded(pgseed.ensure_slices(options.rows, log)),
        "audit_seed_seconds": _rounded(pgseed.ensure_entries(options.audit_rows, log)),
    }
    log(f"Sandbox: {len(records):,} orchestrator slices in {SANDBOX_DATA.relative_to(ROOT)}, cached too ...")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SANDBOX_DATA}{suffix}").unlink(missing_ok=True)
    store = SliceStore(SANDBOX_DATA)
    store.insert_many(ORCHESTRATOR_SLICE.path, records)
    store.close()
    cache_records(ORCHESTRATOR_SLICE, records)
    _vacuum(OrchestratorSlice, AuditEntry)
    indexes.check(log)  # before measuring: the indexes a fresh migrate builds, or no figures
    call_command("add_demo_users", stdout=StringIO())  # serve creates them too; the token needs them now
    operator = get_user_model().objects.get(username="operator")
    _, token = issue_token(operator, name="make load", days=1, context=AuditContext.system("bench/load.py"))
    return {"seeded": seeded, "bulk_ids": ids, "token": token}


def _vacuum(*models) -> None:
    """Each run starts from the same state: last run's edits and audit entries vacuumed away (as autovacuum would
    in time), so index-only scans need not visit the table, and statistics current."""
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


def targets(bulk_ids: list[str]) -> dict:
    """What the simulated people pick from: samples of what the load database holds."""
    import random

    from django.db import connection

    from bench.audit_events import PEOPLE
    from slices_admin.accounts.management.commands.add_demo_users import DEMO_PASSWORD_SUFFIX
    from slices_admin.accounts.roles import ROLES
    from slices_admin.audit.models import ACCOUNT, AuditEntry
    from slices_admin.sandbox.catalog import FAILURES, MODULE_RUNTIMES, ORGANIZATIONS

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, pipeline_execution_id FROM slices_orchestratorslice TABLESAMPLE BERNOULLI (0.5) LIMIT 3000"
        )
        sampled = cursor.fetchall()
    rng = random.Random()
    bounds = AuditEntry.objects.order_by("id").values_list("id", flat=True)
    low, high = bounds.first(), bounds.last()
    picks = rng.sample(range(low, high + 1), min(6000, high - low + 1))
    entries = list(
        AuditEntry.objects.filter(id__in=picks).exclude(resource=ACCOUNT).values_list("id", "resource", "remote_id")
    )
    words = sorted({f.message.partition(":")[0].rsplit(".", 1)[-1] for f in FAILURES})
    return {
        "slice_ids": [row[0] for row in sampled] + rng.sample(bulk_ids, min(200, len(bulk_ids))),
        "pipeline_executions": sorted({row[1] for row in sampled if row[1]}),
        "organizations": list(ORGANIZATIONS),
        "module_runtimes": [runtime.id for runtime in MODULE_RUNTIMES.values()],
        "error_words": [*words, "throttling", "no text layer"],
        "audit_entries": [entry[0] for entry in entries],
        "audited_slices": sorted({entry[2] for entry in entries if entry[1] != ACCOUNT and entry[2]})[:500],
        "audit_actors": [*PEOPLE[:12], "system"],
        "passwords": {role: role + DEMO_PASSWORD_SUFFIX for role in ROLES},
    }


def main() -> None:
    options = _arguments()
    _lock = one_at_a_time()  # held until the process ends
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the stack
    WORK.mkdir(parents=True, exist_ok=True)
    database = ensure_database(options.server, options.database)
    sandbox_port = free_port()
    environment = _setup_django(database, sandbox_port)
    from django.conf import settings

    from bench import report
    from slices_admin.audit.models import AuditEntry
    from slices_admin.slices.models import OrchestratorSlice

    code = report.code_version(ROOT)
    log(f"Load database {options.database} on {urlsplit(options.server).netloc}")
    prepared = prepare(options)
    dataset = {
        "orchestrator_slices": OrchestratorSlice.objects.count(),
        "audit_entries": AuditEntry.objects.count(),
        "database": f"postgresql {options.database}",
        "database_mib": database_mib(),
        **prepared["seeded"],
    }
    if options.seed_only:
        log(f"Seeded: {dataset}")
        return

    stack = Stack(options, environment, free_port())
    log(f"Starting {' '.join(stack.command[1:])} (log: {stack.log_path.relative_to(ROOT)}) ...")
    try:
        ready_seconds = stack.wait_ready()
        log(f"  ready in {ready_seconds:.1f} s")
        set_latency(sandbox_port, options.bulk_latency_ms)
        targets_path = WORK / "targets.json"
        targets_path.write_text(json.dumps(targets(prepared["bulk_ids"])))
        load_before = os.getloadavg()
        log(f"Locust: {options.users} users signing in, {options.spawn_rate:g} a second ...")
        locust = Locust(options, stack.url, targets_path)
        try:
            locust.wait_window()
            cpu_before = cpu_by_part(stack.process.pid, locust.process.pid)
            bulk = BulkEdit(stack.url, prepared["token"])
            started = bulk.start(prepared["bulk_ids"])
            began = time.perf_counter()
            (WORK / "bulk-job").write_text(str(bulk.job))
            log(f"  all signed in and warmed up ({options.warmup} s): {options.seconds} s of browsing begin, and bulk "
                f"edit {bulk.job} of {started['total']:,} slices (the sandbox answering after "
                f"{options.bulk_latency_ms} ms)")  # fmt: skip
            time.sleep(options.seconds)
            cpu_after = cpu_by_part(stack.process.pid, locust.process.pid)
            locust_exit = locust.wait(60)
        finally:
            locust.stop()
        load_after = os.getloadavg()
        at_window_end = job_summary(bulk.state(), began)
        log(f"  window over (Locust exited with {locust_exit}); bulk edit {at_window_end['state']}, "
            f"{at_window_end['done']:,} of {at_window_end['total']:,} done. Waiting for it to end ...")  # fmt: skip
        final = bulk.wait(BULK_WAIT)
        final_summary = job_summary(final, began)
    finally:
        log("Stopping the stack ...")
        stack.stop()

    measured = locust_figures()
    signin = json.loads((WORK / "signin.json").read_text())
    window = json.loads((WORK / "window.json").read_text())
    overall = measured["overall"]
    errors = (
        overall["failures"]
        + sum(e["count"] for e in measured["exceptions"])
        + sum(e["occurrences"] for e in signin["errors"])
    )
    passed = errors == 0 and overall["p95_ms"] is not None and overall["p95_ms"] <= TARGET_P95_MS
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**report.machine(), "postgresql": postgres_version()},
        "code": code,
        "dataset": dataset,
        "run": {
            "serve": " ".join(stack.command[1:]),
            "locust": " ".join(shown(arg) for arg in locust.command),
            "users": options.users,
            "spawn_rate": options.spawn_rate,
            "window_seconds": round(window["ended"] - window["started"], 1),
            "warmup_seconds": options.warmup,
            "think_seconds": list(THINK_SECONDS),
            "locust_exit_code": locust_exit,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "cpu_during_window": cpu_used(cpu_before, cpu_after, options.seconds),
        "server_times": server_times(stack.log_path, window["started"], window["ended"]),
        "target": {"p95_ms": TARGET_P95_MS, "errors": 0},
        "errors": errors,
        "signin": signin,
        **measured,
        "bulk_edit": {
            "job": bulk.job,
            "items": len(prepared["bulk_ids"]),
            "latency_ms": options.bulk_latency_ms,
            "concurrency": settings.BULK_CONCURRENCY,
            "at_window_end": at_window_end,
            "final": final_summary,
            "seconds": seconds_between(final.get("startedAt"), final.get("finishedAt")),
        },
        "pass": passed,
    }
    log()
    log(table(figures))
    write_section(options.results, "load", figures)
    log(f"\nFigures written to {options.results}.")


if __name__ == "__main__":
    main()
