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
and prints them with the attempts, retries, 429 pauses, kills, resumptions and wall time. The figures go to the
"soak" section of `bench/results.json` ("soak_sqlite" with `--sqlite`); the exit status is 1 if a check fails or
the job does not finish in time (then with diagnostics: item states, runners, tasks, the workers' recent logs).

Its own database each run: `console_soak` on the PostgreSQL server given (`scripts/postgres.sh start`), dropped and
created anew, or with `--sqlite` a fresh file. Logs of the sandbox and the workers are in var/soak/.
"""

import argparse
import fcntl
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is the import root

from bench import ROOT, VAR
from slices_admin.sandbox.launcher import launch

RESULTS = ROOT / "bench" / "results.json"
WORK = VAR / "soak"
SANDBOX_DATA = WORK / "sandbox.sqlite3"
SQLITE_DATABASE = WORK / "console.sqlite3"
TARGET_STATUS = "PENDING"
SLICE_SEED = 20_261_124  # the sandbox seed of the slices: the same ids every run
FAULTS = {"errorRate": 0.2, "timeoutRate": 0.02, "timeoutSeconds": 2, "lostAnswerRate": 0.05}
STORM = {"rateLimitRate": 0.7, "retryAfter": 2}  # on top of FAULTS: 97% of requests fail during a storm
STORM_EVERY = (15.0, 25.0)  # seconds between storms
STORM_SECONDS = 3.0
WORKERS = ("A", "B")
KILLS_PER_WORKER = 2
KILL_AT = ((0.10, 0.20), (0.30, 0.40), (0.50, 0.60), (0.70, 0.80))  # each kill: a random share of items done
HOLDER_WAIT = 20.0  # seconds a due kill waits for a worker that holds a runner of the job
RESTART_PAUSE = (1.0, 3.0)
REPORT_EVERY = 10.0
WORKER_SETTINGS = {
    "KODEXA_READ_TIMEOUT": "1.5",  # a timeout costs 1.5 s, not the default 15
    "BULK_STALE_AFTER_SECONDS": "5",
    "BULK_HEARTBEAT_SECONDS": "1",
    "BULK_SWEEP_SECONDS": "1",
    "BULK_MAX_TRANSIENT_FAILURES": "20",  # 20% errors: no item should run out of tries
    "LOG_FORMAT": "plain",
}
FINAL = ("succeeded", "failed", "conflict", "skipped", "cancelled")
UNFINISHED = ("pending", "in_flight")


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
    return parser.parse_args()


def log(message: str = "") -> None:
    print(message, flush=True)


def _one_at_a_time() -> object:
    """Two soaks at once would drop each other's database."""
    WORK.mkdir(parents=True, exist_ok=True)
    lock = (WORK / "soak.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("Another soak is running: waiting for it to finish ...")
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


# --- the database --------------------------------------------------------------------------------------------------
def _fresh_database(options: argparse.Namespace) -> str:
    """A new, empty database for this run; its DATABASE_URL."""
    if options.sqlite:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_DATABASE}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{SQLITE_DATABASE}"
    import psycopg
    from psycopg import sql

    name = sql.Identifier(options.database)
    with psycopg.connect(options.server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return urlunsplit(urlsplit(options.server)._replace(path=f"/{options.database}"))


def _slices(items: int) -> tuple[list[dict], list[str]]:
    """The sandbox's slices (the same every run) and the ids of `items` of them not yet in the target status."""
    from slices_admin.sandbox.seed import orchestrator_slices

    records = list(orchestrator_slices(items + items // 4 + 50, SLICE_SEED, datetime.now(UTC)))
    ids = [record["id"] for record in records if record["status"] != TARGET_STATUS][:items]
    if len(ids) < items:
        raise SystemExit(f"The generated slices hold only {len(ids)} to change.")
    return records, ids


# --- the processes -------------------------------------------------------------------------------------------------
class Sandbox:
    """The sandbox as its own process on a fresh data file, and its control endpoints."""

    def __init__(self, records: list[dict]):
        import requests

        from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
        from slices_admin.sandbox.store import SliceStore

        for suffix in ("", "-wal", "-shm"):
            Path(f"{SANDBOX_DATA}{suffix}").unlink(missing_ok=True)
        store = SliceStore(SANDBOX_DATA)
        store.insert_many(ORCHESTRATOR_SLICE.path, records)
        store.close()
        self.running = launch(SANDBOX_DATA, log=WORK / "sandbox.log", start_new_session=True)
        self.url, self.api_key, self.process = self.running.url, self.running.api_key, self.running.process
        self.path = ORCHESTRATOR_SLICE.path
        self.session = requests.Session()
        self.session.headers["x-api-key"] = self.api_key

    def faults(self, **settings: Any) -> None:
        self.session.put(f"{self.url}/_sandbox/faults", json=settings, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        self.session.delete(f"{self.url}/_sandbox/faults", timeout=10).raise_for_status()

    def stats(self) -> dict:
        answer = self.session.get(f"{self.url}/_sandbox/stats", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def records(self) -> dict[str, dict]:
        """Every orchestrator slice as the sandbox holds it now (read with the faults off)."""
        found, page = {}, 1
        while True:
            answer = self.session.get(
                f"{self.url}/api/{self.path}", params={"page": page, "pageSize": 1000, "sort": "id,asc"}, timeout=60
            )
            answer.raise_for_status()
            document = answer.json()
            found.update((record["id"], record) for record in document["content"])
            if document["last"]:
                return found
            page += 1

    def stop(self) -> None:
        self.running.stop()


@dataclass
class Worker:
    """One `manage.py db_worker` slot: the process now running in it, and how often it was killed."""

    name: str
    environment: dict[str, str]
    process: subprocess.Popen | None = None
    started: int = 0
    kills: int = 0
    exits: list[int] = field(default_factory=list)  # exit codes of the times it stopped on its own
    restart_at: float | None = None

    @property
    def log_path(self) -> Path:
        return WORK / f"worker-{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.started += 1
        self.restart_at = None
        with self.log_path.open("a") as output:
            output.write(f"\n===== worker {self.name}, start {self.started}, {datetime.now(UTC).isoformat()} =====\n")
            output.flush()
            command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--no-reload"]
            command += ["--interval", "0.2", "-v1"]
            self.process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                command, cwd=ROOT, env=self.environment, stdout=output, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --- watching the job ----------------------------------------------------------------------------------------------
def _counts(job_id: int) -> dict[str, int]:
    from django.db.models import Count

    from slices_admin.bulk.models import BulkEditItem

    counts = dict.fromkeys((*UNFINISHED, *FINAL), 0)
    rows = BulkEditItem.objects.filter(job_id=job_id).order_by().values_list("state").annotate(n=Count("id"))
    counts.update(rows)
    return counts


def _runners(job_id: int) -> dict[int, str]:
    """The job's live runners by the pid of the worker running each."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from slices_admin.bulk.models import BulkEditRunner

    fresh = timezone.now() - timedelta(seconds=settings.BULK_STALE_AFTER_SECONDS)
    found = {}
    for runner_id in BulkEditRunner.objects.filter(job_id=job_id, heartbeat_at__gte=fresh).values_list(
        "runner_id", flat=True
    ):
        try:
            found[int(runner_id.rsplit(":", 2)[1])] = runner_id
        except (IndexError, ValueError):
            continue
    return found


def _progress_line(counts: dict[str, int], total: int, elapsed: float) -> str:
    done = sum(counts[state] for state in FINAL)
    states = ", ".join(f"{state} {counts[state]:,}" for state in (*FINAL, *UNFINISHED) if counts[state])
    return f"{done:,} of {total:,} done ({100 * done / total:.1f}%; {states}), {elapsed:.1f} s in"


@dataclass
class Watch:
    """What happened while the job ran."""

    kills: list[dict] = field(default_factory=list)
    storms: int = 0
    pauses: int = 0  # times the job was seen going from working to paused
    unexpected_exits: list[dict] = field(default_factory=list)


def _choose_victim(workers: list[Worker], holders: dict[int, str], waited: float, rng: random.Random):
    """A worker still to be killed, preferably one working the job now; any of them after HOLDER_WAIT."""
    candidates = [w for w in workers if w.kills < KILLS_PER_WORKER and w.running and w.restart_at is None]
    working = [w for w in candidates if w.pid in holders]
    if working:
        return rng.choice(working)
    if candidates and waited >= HOLDER_WAIT:
        return rng.choice(candidates)
    return None


def _kill(victim: Worker, job_id: int, holders: dict[int, str], total: int, elapsed: float, rng, number: int) -> dict:
    from slices_admin.bulk.models import BulkEditItem

    runner_id = holders.get(victim.pid, "")
    held = BulkEditItem.objects.filter(job_id=job_id, runner_id=runner_id, state__in=UNFINISHED) if runner_id else None
    items_held = held.count() if held is not None else 0
    in_flight = held.filter(state="in_flight").count() if held is not None else 0
    counts = _counts(job_id)
    pid = victim.pid
    victim.kill()
    pause = rng.uniform(*RESTART_PAUSE)
    victim.restart_at = time.monotonic() + pause
    work = f"runner {runner_id}, holding {items_held} items, {in_flight} in flight" if runner_id else "no runner"
    log(
        f"  KILL {number}/{len(KILL_AT)}: worker {victim.name} (pid {pid}; {work}) at "
        f"{_progress_line(counts, total, elapsed)}; restarting in {pause:.1f} s"
    )
    return {
        "number": number,
        "worker": victim.name,
        "pid": pid,
        "seconds": round(elapsed, 1),
        "done": sum(counts[state] for state in FINAL),
        "counts": {state: n for state, n in counts.items() if n},
        "held_a_runner": bool(runner_id),
        "items_held": items_held,
        "in_flight": in_flight,
        "restart_after_seconds": round(pause, 1),
    }


def watch(job_id: int, total: int, workers: list[Worker], sandbox: Sandbox, options, rng: random.Random) -> Watch:
    """Follow the job to its end: storms on and off, the kills and restarts, a progress line now and then.
    Raises TimeoutError if it does not end within `options.timeout`."""
    from django.utils import timezone

    from slices_admin.bulk.models import BulkEditJob

    seen = Watch()
    began = time.monotonic()
    kill_at = [rng.uniform(low, high) for low, high in KILL_AT]
    kill_due_since: float | None = None
    next_storm, storm_ends = began + rng.uniform(*STORM_EVERY), None
    next_report, was_paused = began + REPORT_EVERY, False
    try:
        while True:
            now = time.monotonic()
            elapsed = now - began
            job = BulkEditJob.objects.get(pk=job_id)
            counts = _counts(job_id)
            done = sum(counts[state] for state in FINAL)
            for worker in workers:
                if worker.restart_at is None and not worker.running:  # it stopped without being killed
                    code, last = worker.process.returncode, worker.tail(1)
                    seen.unexpected_exits.append(
                        {"worker": worker.name, "code": code, "seconds": round(elapsed, 1), "last_line": last}
                    )
                    log(f"  worker {worker.name} exited by itself with code {code} ({last}); starting it again")
                    worker.restart_at = now + 1
                if worker.restart_at is not None and now >= worker.restart_at:
                    worker.start()
                    log(f"  worker {worker.name} started again (pid {worker.pid})")
            if storm_ends is None and now >= next_storm:
                sandbox.faults(**STORM)
                seen.storms += 1
                storm_ends = now + STORM_SECONDS
                log(f"  429 storm {seen.storms} for {STORM_SECONDS:g} s at {elapsed:.1f} s")
            elif storm_ends is not None and now >= storm_ends:
                sandbox.faults(rateLimitRate=0)
                storm_ends, next_storm = None, now + rng.uniform(*STORM_EVERY)
            paused = job.paused_until is not None and job.paused_until > timezone.now()
            if paused and not was_paused:
                seen.pauses += 1
            was_paused = paused
            if len(seen.kills) < len(kill_at) and done >= kill_at[len(seen.kills)] * total and not job.finished:
                kill_due_since = kill_due_since or now
                holders = _runners(job_id)
                victim = _choose_victim(workers, holders, now - kill_due_since, rng)
                if victim is not None:
                    number = len(seen.kills) + 1
                    seen.kills.append(_kill(victim, job_id, holders, total, elapsed, rng, number))
                    kill_due_since = None
            if job.finished:
                log(f"  job {job.state}: {_progress_line(counts, total, elapsed)}")
                return seen
            if now >= next_report:
                runners = len(_runners(job_id))
                log(f"  {_progress_line(counts, total, elapsed)}; {runners} runners" + ("; paused" if paused else ""))
                next_report = now + REPORT_EVERY
            if elapsed > options.timeout:
                raise TimeoutError(f"The job did not finish within {options.timeout:g} s.")
            time.sleep(0.25)
    finally:
        if storm_ends is not None:
            sandbox.faults(rateLimitRate=0)


def diagnostics(job_id: int, workers: list[Worker], sandbox: Sandbox) -> None:
    """What a job that did not finish looks like: its row, items, runners, tasks and the workers' last words."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner

    job = BulkEditJob.objects.get(pk=job_id)
    log("\n=== diagnostics ===")
    log(
        f"job {job.pk}: state {job.state}, started {job.started_at}, heartbeat {job.heartbeat_at} "
        f"(now {timezone.now()}), resumed {job.resumed_count}, paused until {job.paused_until}"
    )
    log(f"items: {_counts(job_id)}")
    for runner in BulkEditRunner.objects.filter(job_id=job_id):
        age = (timezone.now() - runner.heartbeat_at).total_seconds()
        log(f"runner {runner.runner_id}: heartbeat {age:.1f} s ago")
    for task in DBTaskResult.objects.order_by("enqueued_at"):
        log(
            f"task {task.id}: {task.status}, args {task.args_kwargs}, workers {task.worker_ids}, "
            f"started {task.started_at}, finished {task.finished_at}, returned {task.return_value!r}"
        )
    unfinished = BulkEditItem.objects.filter(job_id=job_id, state__in=UNFINISHED).order_by("pk")[:20]
    for item in unfinished:
        log(
            f"item {item.pk} ({item.slice_id}): {item.state}, runner {item.runner_id!r}, attempts {item.attempts}, "
            f"failures {item.transient_failures}, sent {item.sent_change_sequence}, message {item.message!r}"
        )
    with_sandbox = sandbox.process.poll() is None
    log(f"sandbox: {'running, ' + str(sandbox.stats()['requests']) + ' requests' if with_sandbox else 'stopped'}")
    for worker in workers:
        log(f"\n--- worker {worker.name} (pid {worker.pid}, running {worker.running}), last lines ---")
        log(worker.tail())


# --- the checks ----------------------------------------------------------------------------------------------------
def _check(name: str, passed: bool, detail: str) -> dict:
    return {"name": name, "pass": passed, "detail": detail}


def _sample(ids: list[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check(job_id: int, total: int, start: dict[str, dict], sandbox: Sandbox, database_url: str) -> dict:
    """Read back the ledger, the audit log and the sandbox, and check them against each other."""
    from django.db.models import Count

    from slices_admin.audit.models import AuditEntry
    from slices_admin.bulk.models import BulkEditItem, BulkEditJob

    job = BulkEditJob.objects.get(pk=job_id)
    items = list(
        BulkEditItem.objects.filter(job_id=job_id).values(
            "slice_id", "state", "attempts", "result_change_sequence", "message", "transient_failures"
        )
    )
    counts = Counter(item["state"] for item in items)
    final = sum(counts[state] for state in FINAL)
    checks = [
        _check(
            "every item in exactly one final state",
            len(items) == total == final and job.state == BulkEditJob.State.FINISHED,
            f"{final:,} of {len(items):,} items final (of {total:,} asked), "
            + ", ".join(f"{state} {counts[state]:,}" for state in (*FINAL, *UNFINISHED))
            + f"; job {job.state}",
        )
    ]

    # The sandbox: putCounts counts the PUTs it accepted (one refused by the changeSequence lock is not counted).
    stats = sandbox.stats()
    put_counts: dict[str, int] = stats["putCounts"]
    twice = sorted(slice_id for slice_id, n in put_counts.items() if n > 1)
    checks.append(
        _check(
            "no slice applied more than once (sandbox putCounts)",
            not twice,
            f"{sum(1 for n in put_counts.values() if n == 1):,} slices applied once, {len(twice)} more than once"
            + (f": {_sample(twice)}" if twice else ""),
        )
    )
    now = sandbox.records()
    by_slice = {item["slice_id"]: item for item in items}
    wrong = []
    for slice_id, before in start.items():
        after = now.get(slice_id)
        item = by_slice.get(slice_id)
        applied = item is not None and item["state"] == "succeeded"
        expected = before["changeSequence"] + (1 if applied else 0)
        if after is None:
            wrong.append(f"{slice_id} (gone from the sandbox)")
        elif after["changeSequence"] != expected or put_counts.get(slice_id, 0) != (1 if applied else 0):
            state = item["state"] if item else "not in the job"
            wrong.append(
                f"{slice_id} ({state}: changeSequence {before['changeSequence']} -> {after['changeSequence']}, "
                f"{put_counts.get(slice_id, 0)} PUTs applied)"
            )
        elif applied and (after["status"] != TARGET_STATUS or item["result_change_sequence"] != expected):
            wrong.append(
                f"{slice_id} (succeeded, but status {after['status']}, recorded result changeSequence "
                f"{item['result_change_sequence']} for {after['changeSequence']})"
            )
    checks.append(
        _check(
            "changeSequence +1 for succeeded items, +0 for the rest",
            not wrong,
            f"{len(start) - len(wrong):,} of {len(start):,} sandbox slices as expected ({len(items):,} in the job)"
            + (f"; wrong: {_sample(wrong)}" if wrong else ""),
        )
    )

    entries = AuditEntry.objects.filter(bulk_job_id=job_id)
    per_slice = dict(
        entries.filter(action=AuditEntry.Action.UPDATE).order_by().values_list("remote_id").annotate(n=Count("id"))
    )
    mismatched = [
        f"{item['slice_id']} ({per_slice.get(item['slice_id'], 0)} entries, {item['attempts']} attempts)"
        for item in items
        if per_slice.get(item["slice_id"], 0) != item["attempts"]
    ]
    strays = sorted(set(per_slice) - set(by_slice))
    attempts = sum(item["attempts"] for item in items)
    checks.append(
        _check(
            "one audit entry per attempt",
            not mismatched and not strays,
            f"{sum(per_slice.values()):,} update entries for {attempts:,} attempts; {len(mismatched)} items differ"
            + (f": {_sample(mismatched)}" if mismatched else "")
            + (f"; entries for slices not in the job: {_sample(strays)}" if strays else ""),
        )
    )
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    verify_output = (verified.stdout + verified.stderr).strip()
    first_line = verify_output.splitlines()[0] if verify_output else "(no output)"
    checks.append(_check("manage.py verify_audit passes", verified.returncode == 0, first_line))

    statuses = entries.filter(action=AuditEntry.Action.UPDATE).order_by().values_list("response_status")
    answers = {str(status) if status is not None else "none": n for status, n in statuses.annotate(n=Count("id"))}
    return {
        "checks": checks,
        "verify_audit_output": verify_output,
        "job": job,
        "items_by_state": {state: counts[state] for state in (*FINAL, *UNFINISHED)},
        "attempts": attempts,
        "retries": sum(max(item["attempts"] - 1, 0) for item in items),
        "max_attempts": max((item["attempts"] for item in items), default=0),
        "max_transient_failures": max((item["transient_failures"] for item in items), default=0),
        "audit_entries": entries.count(),
        "answers": dict(sorted(answers.items())),
        "found_applied_later": sum("its answer had been lost" in item["message"] for item in items),
        "refused_but_applied": sum("already holds this change" in item["message"] for item in items),
        "sandbox": {
            "requests": stats["requests"],
            "slices_applied_once": sum(1 for n in put_counts.values() if n == 1),
            "slices_applied_more_than_once": len(twice),
            "max_put_count": max(put_counts.values(), default=0),
        },
    }


# --- the report ----------------------------------------------------------------------------------------------------
def table(figures: dict) -> str:
    run, faults, outcome = figures["run"], figures["faults"], figures["outcome"]
    answers = ", ".join(f"{status} x{n:,}" for status, n in outcome["answers"].items())
    states = ", ".join(f"{state} {n:,}" for state, n in outcome["items_by_state"].items())
    sandbox = outcome["sandbox"]
    lines = [
        f"Soak: {run['items']:,} slices -> {TARGET_STATUS} on {run['database']}, {len(WORKERS)} workers, "
        f"{run['runners_per_job']} runners per job, concurrency {run['concurrency']}, "
        f"sandbox latency {run['latency_ms']:g} ms, seed {run['seed']}",
        f"faults: {faults['errorRate']:.0%} 503, {faults['lostAnswerRate']:.0%} lost answers (applied, then 504), "
        f"{faults['timeoutRate']:.0%} timeouts ({faults['timeoutSeconds']:g} s; read timeout "
        f"{run['worker_settings']['KODEXA_READ_TIMEOUT']} s); a 429 storm every "
        f"{STORM_EVERY[0]:g}-{STORM_EVERY[1]:g} s for {STORM_SECONDS:g} s ({STORM['rateLimitRate']:.0%} more, "
        f"Retry-After {STORM['retryAfter']} s)",
        "",
        f"items by final state: {states}",
        f"attempts {outcome['attempts']:,} (retries {outcome['retries']:,}; most on one item "
        f"{outcome['max_attempts']}, most transient failures on one item {outcome['max_transient_failures']} of "
        f"{run['worker_settings']['BULK_MAX_TRANSIENT_FAILURES']}); failed items {outcome['items_by_state']['failed']}",
        f"answers to the attempts (audit): {answers}",
        f"lost answers found applied on the next check: {outcome['found_applied_later']:,}; "
        f"PUTs refused as stale whose change was already there: {outcome['refused_but_applied']:,}",
        f"pauses (429): {figures['pauses']} ({figures['storms']} storms, "
        f"{outcome['answers'].get('429', 0):,} 429 answers)",
        f"kills: {len(figures['kills'])} ("
        + ", ".join(f"{kill['worker']} at {kill['done']:,} done" for kill in figures["kills"])
        + f"); job resumed {figures['resumed_count']} times; workers exiting on their own: "
        f"{len(figures['unexpected_exits'])}",
        f"sandbox: {sandbox['requests']:,} requests; {sandbox['slices_applied_once']:,} slices applied once, "
        f"{sandbox['slices_applied_more_than_once']} more than once (most PUTs applied to one slice: "
        f"{sandbox['max_put_count']})",
        f"audit entries of the job: {outcome['audit_entries']:,} (one per attempt, and the job's start)",
        f"wall time: {figures['wall_seconds']:.1f} s from the job's creation to its end",
        "",
        "checks:",
        *(f"  {'PASS' if c['pass'] else 'FAIL'}  {c['name']}: {c['detail']}" for c in figures["checks"]),
        "",
        "manage.py verify_audit:",
        *(f"  {line}" for line in figures["verify_audit_output"].splitlines()),
        "",
        f"SOAK {'PASS' if figures['pass'] else 'FAIL'}",
    ]
    return "\n".join(lines)


def _postgres_version() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def main() -> int:
    options = _arguments()
    _lock = _one_at_a_time()  # held until the process ends
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the children
    if "KODEXA_BASE_URL" in os.environ:
        raise SystemExit("make soak drives the sandbox: unset KODEXA_BASE_URL.")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1_000_000)
    rng = random.Random(seed)
    database_url = _fresh_database(options)
    where = "SQLite" if options.sqlite else f"PostgreSQL, database {options.database}"
    records, ids = _slices(options.items)
    log(f"Soak on {where}: {len(records):,} slices in a fresh sandbox, {len(ids):,} of them to change (seed {seed})")
    sandbox = Sandbox(records)
    workers: list[Worker] = []
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
        from slices_admin.bulk.models import BulkEditJob
        from slices_admin.bulk.services import Change, Selection, create_job
        from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
        from slices_admin.slices.services import cache_records

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
        faults = {**FAULTS, "latencyMs": options.latency_ms}
        sandbox.faults(**faults)

        began = time.perf_counter()
        change = Change(TARGET_STATUS, reason="make soak: a bulk edit through faults and killed workers")
        job = create_job(Selection.from_ids(ids), change, context=AuditContext.system("soak"), confirmed=True)
        log(f"Bulk edit {job.pk}: {len(ids):,} slices -> {TARGET_STATUS}, {settings.BULK_RUNNERS_PER_JOB} runners")
        try:
            seen = watch(job.pk, len(ids), workers, sandbox, options, rng)
        except TimeoutError as exc:
            log(f"\n{exc}")
            diagnostics(job.pk, workers, sandbox)
            return 1
        wall = time.perf_counter() - began
        for worker in workers:
            worker.stop()
        sandbox.clear_faults()
        outcome = check(job.pk, len(ids), start, sandbox, database_url)
    finally:
        for worker in workers:
            worker.stop()
        sandbox.stop()

    job: BulkEditJob = outcome.pop("job")
    checks = outcome.pop("checks")
    verify_output = outcome.pop("verify_audit_output")
    kills_done = len(seen.kills) == len(KILL_AT) and all(w.kills == KILLS_PER_WORKER for w in workers)
    checks.append(
        _check(
            "every worker killed twice and none stopped on its own",
            kills_done and not seen.unexpected_exits,
            f"{len(seen.kills)} of {len(KILL_AT)} kills ("
            + ", ".join(f"{w.name} {w.kills}" for w in workers)
            + f"), {len(seen.unexpected_exits)} exits on their own",
        )
    )
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**report.machine(), "postgresql": _postgres_version()},
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
        "pass": all(c["pass"] for c in checks),
    }
    log()
    log(table(figures))
    section = "soak_sqlite" if options.sqlite else "soak"
    report.write_section(options.results, section, figures)
    log(f"\nFigures written to the {section!r} section of {options.results}.")
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
