"""`make soak`: a 5,000-slice bulk edit through a faulty Kodexa and killed workers, then the proof that every item
ended once, no slice was changed twice, and every attempt was audited.

The sandbox runs as its own process on a fresh data file holding the slices (put in the console's cache too, as a
sync would), answering after 50 ms with 20% 503s, 5% lost answers (the PUT is applied, then answered 504: what a
client must not apply twice) and 2% timeouts, and every 15-25 s a 3-second storm of 429s with `Retry-After`. Two
`manage.py db_worker` processes work the job (two runners side by side on PostgreSQL, one on SQLite) with short
timings (a runner silent for 5 s is dead); each is killed with SIGKILL twice, at random moments spread over the
job, and started again after a short pause (a kill goes to a worker working the job at that moment when one is
due; on SQLite, with its one runner, the worker due may be idle). Once the job is over the script checks:
- every item is in exactly one final state (succeeded, failed, conflict, skipped, cancelled) and the job finished;
- the sandbox applied no slice's change more than once: its per-slice count of accepted PUTs is at most 1, and each
  slice's changeSequence moved by exactly 1 for a succeeded item and not at all otherwise (nor outside the job);
- each item has exactly as many audit entries in the job as its attempts, and `manage.py verify_audit` passes;
and prints them with the attempts, retries, 429 pauses, kills, resumptions and wall time.

On PostgreSQL the database fails too (`bench/soak_database.py`; `--no-database-faults` leaves it alone): the server
`scripts/postgres.sh` runs is crashed (`pg_ctl stop -m immediate`) once the job is 42-48% done and again in the
middle of a full sync run after the job, each time started again 3-6 s later, while gunicorn serves the console and
a page and an API endpoint are asked for twice a second: they must answer 503 (page, JSON) at once, never 500 or
nothing. The workers must live through it (no restart but the kills), the job and the sync go on and end, the sync's
cache matches the sandbox and it is audited once, and every check above still holds.

The figures go to the "soak" section of `bench/results.json` ("database_faults" inside it; "soak_sqlite" with
`--sqlite`); the exit status is 1 if a check fails or the job does not finish in time (then with diagnostics: item
states, runners, tasks, the workers' recent logs).

Its own database each run: `console_soak` on the PostgreSQL server given (`scripts/postgres.sh start`), dropped and
created anew, or with `--sqlite` a fresh file. Logs of the sandbox and the workers are in var/soak/.
"""

import argparse
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is the import root

from bench import RESULTS, ROOT
from bench.soak_checks import check, check_result, table
from bench.soak_database import (
    BULK_CRASH_AT,
    DOWN_SECONDS,
    Server,
    check_outages,
    check_sync,
    outage,
    sign_in,
    sync_through_outage,
    synchronous_commit,
    table_lines,
)
from bench.soak_processes import (
    FAULTS,
    FINAL,
    KILL_AT,
    KILLS_PER_WORKER,
    SLICE_SEED,
    SQLITE_DATABASE,
    STORM,
    STORM_EVERY,
    STORM_SECONDS,
    TARGET_STATUS,
    WORKER_SETTINGS,
    WORKERS,
    Sandbox,
    WebServer,
    Worker,
)
from bench.soak_watch import DatabaseCrash, diagnostics, watch
from bench.support import ensure_database, free_port, log, one_at_a_time, postgres_version, write_section


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="DATABASE_URL of the PostgreSQL server (scripts/postgres.sh start)")
    where.add_argument("--sqlite", action="store_true", help=f"run on a fresh SQLite file ({SQLITE_DATABASE.name})")
    parser.add_argument("--database", default="console_soak", help="the soak's own database on the server")
    parser.add_argument("--items", type=int, default=5000, help="slices the bulk edit changes")
    parser.add_argument("--latency-ms", type=float, default=50, help="the sandbox's latency")
    parser.add_argument("--seed", type=int, help="seed of the kill moments, storms and restart pauses")
    parser.add_argument("--timeout", type=float, default=1800, help="longest wait for the job to finish (s)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the figures are merged into")
    parser.add_argument(
        "--no-database-faults",
        dest="database_faults",
        action="store_false",
        help="on PostgreSQL, do not crash the server (scripts/postgres.sh, PG_PORT/PG_DATA) mid-job and mid-sync",
    )
    return parser.parse_args()


# --- the database --------------------------------------------------------------------------------------------------
def _fresh_database(options: argparse.Namespace) -> str:
    """A new, empty database for this run; its DATABASE_URL."""
    if options.sqlite:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_DATABASE}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{SQLITE_DATABASE}"
    return ensure_database(options.server, options.database, fresh=True)


def _slices(items: int) -> tuple[list[dict], list[str]]:
    """The sandbox's slices (the same every run) and the ids of `items` of them not yet in the target status."""
    from slices_admin.sandbox.seed import orchestrator_slices

    records = list(orchestrator_slices(items + items // 4 + 50, SLICE_SEED, datetime.now(UTC)))
    ids = [record["id"] for record in records if record["status"] != TARGET_STATUS][:items]
    if len(ids) < items:
        raise SystemExit(f"The generated slices hold only {len(ids)} to change.")
    return records, ids


def main() -> int:
    options = _arguments()
    _lock = one_at_a_time("soak.lock")  # held until the process ends: two soaks at once drop each other's database
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the children
    if "KODEXA_BASE_URL" in os.environ:
        raise SystemExit("make soak drives the sandbox: unset KODEXA_BASE_URL.")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1_000_000)
    rng = random.Random(seed)
    faults_on = options.database_faults and not options.sqlite
    server = Server(options.server) if faults_on else None  # refuses a server scripts/postgres.sh does not run
    database_url = _fresh_database(options)
    where = "SQLite" if options.sqlite else f"PostgreSQL, database {options.database}"
    records, ids = _slices(options.items)
    log(f"Soak on {where}: {len(records):,} slices in a fresh sandbox, {len(ids):,} of them to change (seed {seed})")
    sandbox = Sandbox(records)
    workers: list[Worker] = []
    web: WebServer | None = None
    try:
        environment = {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "slices_admin.settings",
            "KODEXA_BASE_URL": sandbox.url,
            "KODEXA_API_KEY": sandbox.api_key,
            "KODEXA_SANDBOX": "1",
            **WORKER_SETTINGS,
        }
        os.environ.update(environment)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from bench import indexes, report
        from slices_admin.audit.services import AuditContext
        from slices_admin.bulk.changes import Change
        from slices_admin.bulk.models import BulkEditJob
        from slices_admin.bulk.services import Selection, create_job
        from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
        from slices_admin.slices.cache import cache_records

        code = report.code_version(ROOT)
        call_command("migrate", verbosity=0, interactive=False)
        indexes.check(log=lambda _message: None)  # refuses to measure on other indexes
        cache_records(ORCHESTRATOR_SLICE, records)
        start = {record["id"]: record for record in records}
        if sandbox.stats()["putCounts"]:
            raise RuntimeError("The fresh sandbox already counts PUTs.")

        workers = [Worker(name, {**os.environ}) for name in WORKERS]
        for worker in workers:
            worker.log_path.write_text("")
            worker.start()
        log(f"Workers {', '.join(f'{w.name} (pid {w.pid})' for w in workers)} started; logs in var/soak/")
        crash, prober = None, None
        if server is not None:
            web = WebServer({**os.environ}, free_port())
            web.wait_ready()
            prober = sign_in(web.url)
            log(f"Web server (gunicorn) at {web.url}; the database crashes mid-job and mid-sync")

            def crash_in_the_job(counts: dict[str, int]) -> dict:
                done = sum(counts[state] for state in FINAL)
                down = rng.uniform(*DOWN_SECONDS)
                detail = {"done": done, "total": len(ids), "in_flight": counts["in_flight"]}
                return {**outage(server, prober, down, "bulk edit", **detail), "mid_run": done < len(ids)}

            crash = DatabaseCrash(rng.uniform(*BULK_CRASH_AT), crash_in_the_job)
        faults = {**FAULTS, "latencyMs": options.latency_ms}
        sandbox.set_faults(**faults)

        began = time.perf_counter()
        change = Change(TARGET_STATUS, reason="make soak: a bulk edit through faults and killed workers")
        job = create_job(Selection.from_ids(ids), change, context=AuditContext.system("soak"), confirmed=True)
        log(f"Bulk edit {job.pk}: {len(ids):,} slices -> {TARGET_STATUS}, {settings.BULK_RUNNERS_PER_JOB} runners")
        try:
            seen = watch(job.pk, len(ids), workers, sandbox, options, rng, crash)
            wall = time.perf_counter() - began
            synced = None
            if server is not None and prober is not None:
                synced = sync_through_outage(server, prober, sandbox, rng.uniform(*DOWN_SECONDS))
                seen.outages.append(synced["outage"])
                for worker in workers:  # the watch saw them through the job; this, through the sync's crash
                    if not worker.running:
                        code = worker.process.returncode
                        seen.unexpected_exits.append({"worker": worker.name, "code": code, "during": "sync"})
        except TimeoutError as exc:
            log(f"\n{exc}")
            diagnostics(job.pk, workers, sandbox)
            return 1
        for worker in workers:
            worker.stop()
        sandbox.clear_faults()
        outcome = check(job.pk, len(ids), start, sandbox, database_url)
        database_faults = None
        if synced is not None:
            sync_checks, sync_figures = check_sync(synced["run"], sandbox)
            outcome["checks"] += check_outages(seen.outages) + sync_checks
            database_faults = {
                "server": "scripts/postgres.sh (PG_PORT, PG_DATA)",
                "synchronous_commit": synchronous_commit(),
                "down_seconds_drawn_from": list(DOWN_SECONDS),
                "crash_at_share_of_items_done": list(BULK_CRASH_AT),
                "outages": seen.outages,
                "watch_reads_refused": seen.database_errors,
                "sync": {"run": synced["run"], "seconds": synced["seconds"], **sync_figures},
            }
    finally:
        if web is not None:
            web.stop()
        for worker in workers:
            worker.stop()
        sandbox.stop()

    job: BulkEditJob = outcome.pop("job")
    checks = outcome.pop("checks")
    verify_output = outcome.pop("verify_audit_output")
    kills_done = len(seen.kills) == len(KILL_AT) and all(w.kills == KILLS_PER_WORKER for w in workers)
    checks.append(
        check_result(
            "every worker killed twice and none stopped on its own",
            kills_done and not seen.unexpected_exits,
            f"{len(seen.kills)} of {len(KILL_AT)} kills ("
            + ", ".join(f"{w.name} {w.kills}" for w in workers)
            + f"), {len(seen.unexpected_exits)} exits on their own",
        )
    )
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**report.machine(), "postgresql": postgres_version()},
        "code": code,
        "run": {
            "database": "SQLite" if options.sqlite else f"PostgreSQL {options.database}",
            "items": len(ids),
            "sandbox_slices": len(records),
            "target_status": TARGET_STATUS,
            "concurrency": job.concurrency,
            "runners_per_job": settings.BULK_RUNNERS_PER_JOB,
            "latency_ms": options.latency_ms,
            "seed": seed,
            "worker_settings": {k: v for k, v in WORKER_SETTINGS.items() if k != "LOG_FORMAT"},
        },
        "faults": FAULTS,
        "storm": {**STORM, "every_seconds": list(STORM_EVERY), "seconds": STORM_SECONDS},
        "job": job.pk,
        "wall_seconds": round(wall, 1),
        "job_seconds": round((job.finished_at - job.created_at).total_seconds(), 1) if job.finished_at else None,
        "resumed_count": job.resumed_count,
        "kills": seen.kills,
        "storms": seen.storms,
        "pauses": seen.pauses,
        "unexpected_exits": seen.unexpected_exits,
        "outcome": outcome,
        "checks": checks,
        "verify_audit_output": verify_output,
        "database_faults": database_faults,
        "pass": all(c["pass"] for c in checks),
    }
    log()
    log(table(figures, table_lines(database_faults) if database_faults else []))
    section = "soak_sqlite" if options.sqlite else "soak"
    write_section(options.results, section, figures)
    log(f"\nFigures written to the {section!r} section of {options.results}.")
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
