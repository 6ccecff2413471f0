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
import csv
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository is the import root

from bench import ROOT, VAR

TARGET_P95_MS = 300.0
RESULTS = ROOT / "bench" / "results.json"
WORK = VAR / "load"  # Locust's CSV files, the server's log, the targets file
SANDBOX_DATA = VAR / "load-sandbox.sqlite3"
BULK_SEED = 20_260_000  # the sandbox seed of the bulk edit's slices: the same ids every run
THINK_SECONDS = (1, 3)  # as bench/locustfile.py waits between pages
READY_TIMEOUT = 180
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


def log(message: str = "") -> None:
    print(message, flush=True)


def _one_at_a_time() -> object:
    """Hold the benchmark lock `make bench` holds too: two runs at once share the CPU and spoil each other."""
    VAR.mkdir(exist_ok=True)
    lock = (VAR / "bench.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("Another benchmark is running: waiting for it to finish ...")
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the database --------------------------------------------------------------------------------------------------
def _database_url(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _ensure_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"Creating the database {name} ...")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


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
    from rest_framework.authtoken.models import Token

    from bench import indexes, pgseed
    from slices_admin.audit.models import AuditEntry
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.sandbox.store import SliceStore
    from slices_admin.slices.models import OrchestratorSlice
    from slices_admin.slices.services import cache_records

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
    token, _ = Token.objects.get_or_create(user=operator)
    return {"seeded": seeded, "bulk_ids": ids, "token": token.key}


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

    from bench.audit import PEOPLE
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


# --- the stack -----------------------------------------------------------------------------------------------------
class Stack:
    """`manage.py serve` as a child in its own session (so nothing it starts outlives the run)."""

    def __init__(self, options: argparse.Namespace, environment: dict[str, str], port: int):
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "manage.py",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(options.workers),
        ]
        if options.web_workers:
            command += ["--web-workers", str(options.web_workers)]
        if options.threads:
            command += ["--threads", str(options.threads)]
        self.command = command
        self.log_path = WORK / "serve.log"
        env = {**os.environ, **environment}
        self.log_file = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            command, cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self) -> float:
        import requests

        began = time.perf_counter()
        while time.perf_counter() - began < READY_TIMEOUT:
            if self.process.poll() is not None:
                raise RuntimeError(f"manage.py serve exited with code {self.process.returncode}:\n{self.tail()}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - began
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.url}/readyz did not answer 200 within {READY_TIMEOUT} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self.log_file.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log("manage.py serve did not stop within 30 s: killing its process group.")
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log_file.close()


# --- the bulk edit -------------------------------------------------------------------------------------------------
class BulkEdit:
    """The edit, through the JSON API as a script would start and watch it."""

    def __init__(self, url: str, token: str):
        import requests

        self.api = f"{url}/api/v1/bulk-edits"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.job: int | None = None

    def start(self, ids: list[str]) -> dict:
        body = {"ids": ids, "targetStatus": "CANCELLED", "reason": "make load", "confirmCount": len(ids)}
        answer = self.session.post(self.api, json=body, timeout=60)
        if answer.status_code != 201:
            raise RuntimeError(f"POST {self.api} answered {answer.status_code}: {answer.text[:2000]}")
        document = answer.json()
        self.job = document["id"]
        return document

    def state(self) -> dict:
        answer = self.session.get(f"{self.api}/{self.job}", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def wait(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        document = self.state()
        while document["state"] not in ("finished", "cancelled") and time.monotonic() < deadline:
            time.sleep(1)
            document = self.state()
        return document


def _set_latency(port: int, latency_ms: int) -> None:
    import requests
    from django.conf import settings

    answer = requests.put(
        f"http://127.0.0.1:{port}/_sandbox/faults",
        json={"latencyMs": latency_ms},
        headers={"x-api-key": settings.KODEXA_API_KEY},
        timeout=10,
    )
    answer.raise_for_status()


def _summary(document: dict, began: float) -> dict:
    return {
        "state": document["state"],
        "done": document["done"],
        "total": document["total"],
        "counts": {state: n for state, n in document["counts"].items() if n},
        "seconds_since_start": round(time.perf_counter() - began, 1),
    }


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not (start and end):
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


# --- where the CPU went --------------------------------------------------------------------------------------------
_PARTS = (("gunicorn", "web (gunicorn)"), ("db_worker", "background workers"), ("slices_admin.sandbox", "sandbox"))


def _cpu_by_part(stack_pid: int, locust_pid: int) -> dict[str, float]:
    """CPU seconds used so far, by part of the stack, and by the whole machine (busy time of all cores)."""
    import psutil

    parts: dict[str, float] = {}

    def add(part: str, process) -> None:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return
        # A child that has ended counts in its parent's children times (PostgreSQL's backends, recycled workers).
        used = times.user + times.system + times.children_user + times.children_system
        parts[part] = parts.get(part, 0.0) + used

    try:
        stack = psutil.Process(stack_pid)
        for process in [stack, *stack.children(recursive=True)]:
            command = " ".join(process.cmdline())
            part = next((name for marker, name in _PARTS if marker in command), "manage.py serve")
            add(part, process)
        add("locust", psutil.Process(locust_pid))
    except psutil.Error:
        pass
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres" or (process.info["name"] or "").startswith("postgres:"):
            add("postgresql (all databases)", process)
    machine = psutil.cpu_times()
    parts["machine (all processes)"] = machine.user + machine.system + getattr(machine, "nice", 0.0)
    return parts


def _cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict:
    """Cores used on average during the window, by part; "everything else" is the machine's rest (other work)."""
    used = {part: max(0.0, after.get(part, 0.0) - before.get(part, 0.0)) / seconds for part in after}
    machine = used.pop("machine (all processes)")
    used["everything else on the machine"] = max(0.0, machine - sum(used.values()))
    return {"cores": os.cpu_count(), "busy_cores": round(machine, 2), **{k: round(v, 2) for k, v in used.items()}}


# --- the server's own view -----------------------------------------------------------------------------------------
_PAGE_TYPES = (  # path pattern → page type, first match wins (the access log has no query string)
    (re.compile(r"^/slices/$"), "dashboard"),
    (re.compile(r"^/slices/orchestrator/$"), "slice list"),
    (re.compile(r"^/slices/orchestrator/.+"), "slice detail"),
    (re.compile(r"^/audit/$"), "audit list"),
    (re.compile(r"^/audit/\d+/$"), "audit entry"),
    (re.compile(r"^/bulk/\d+/progress/$"), "bulk progress"),
    (re.compile(r"^/bulk/\d+/$"), "bulk job"),
    (re.compile(r"^/bulk/$"), "bulk list"),
)


def server_times(log_path: Path, started: float, ended: float) -> dict:
    """The console's own timing of the window's requests (its access log), by page type: time spent inside Django,
    without the waits before a worker thread picks a request up."""
    durations: dict[str, list[float]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if '"slices_admin.access"' not in line:
            continue
        try:
            entry = json.loads(line)
            when = datetime.fromisoformat(entry["time"]).timestamp()
        except (ValueError, KeyError):
            continue
        if started <= when <= ended:
            page = next((name for pattern, name in _PAGE_TYPES if pattern.match(entry["path"])), "other")
            durations.setdefault(page, []).append(float(entry["duration_ms"]))
    return {
        page: {"requests": len(values), **_percentiles(values), "seconds": round(sum(values) / 1000, 1)}
        for page, values in sorted(durations.items(), key=lambda item: -sum(item[1]))
    }


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": ordered[-1]}


# --- Locust --------------------------------------------------------------------------------------------------------
SIGN_IN_TIMEOUT = 300
_STATE_FILES = (
    "signin.json",
    "window.json",
    "bulk-job",
    "locust_stats.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
)


class Locust:
    """Locust headless in its own process; the window starts when its people have signed in (see the locustfile)."""

    def __init__(self, options: argparse.Namespace, url: str, targets_path: Path):
        for name in _STATE_FILES:
            (WORK / name).unlink(missing_ok=True)
        command = [
            str(Path(sys.executable).with_name("locust")),
            "-f", str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "-u", str(options.users),
            "-r", str(options.spawn_rate),
            "-t", f"{options.warmup + options.seconds + SIGN_IN_TIMEOUT}s",  # a bound: the locustfile ends the run
            "--host", url,
            "--csv", str(WORK / "locust"),
            "--only-summary",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        env = {
            **os.environ,
            "LOAD_TARGETS": str(targets_path),
            "LOAD_STATE_DIR": str(WORK),
            "LOAD_USERS": str(options.users),
            "LOAD_WINDOW_SECONDS": str(options.seconds),
            "LOAD_WARMUP_SECONDS": str(options.warmup),
        }
        self.command, self.warmup = command, options.warmup
        self.output = (WORK / "locust.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 (Locust from this virtualenv, fixed arguments)
            command, cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT
        )

    def wait_window(self) -> None:
        """Until everyone has signed in and the measured window has begun."""
        deadline = time.monotonic() + SIGN_IN_TIMEOUT + self.warmup
        while not (WORK / "window.json").exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"Locust exited with {self.process.returncode} before the window:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"The Locust users did not all sign in within {SIGN_IN_TIMEOUT} s.")
            time.sleep(0.1)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.output.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        self.output.flush()
        return "\n".join((WORK / "locust.log").read_text(errors="replace").splitlines()[-lines:])


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None  # "N/A" when nothing was measured


def _row(row: dict) -> dict:
    return {
        "name": row["Name"],
        "method": row["Type"],
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "requests_per_second": round(float(row["Requests/s"]), 2),
        "p50_ms": _number(row["50%"]),
        "p95_ms": _number(row["95%"]),
        "p99_ms": _number(row["99%"]),
        "max_ms": round(float(row["Max Response Time"]), 1),
        "mean_ms": round(float(row["Average Response Time"]), 1),
    }


def locust_figures() -> dict:
    """Locust's CSV statistics: the whole run and each page type, and the failures by cause."""
    with (WORK / "locust_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    overall = next(_row(row) for row in rows if row["Name"] == "Aggregated")
    pages = [_row(row) for row in rows if row["Name"] != "Aggregated" and int(row["Request Count"])]
    pages.sort(key=lambda page: -page["requests"])
    with (WORK / "locust_failures.csv").open() as failed:
        failures = [
            {
                "method": row["Method"],
                "name": row["Name"],
                "error": row["Error"],
                "occurrences": int(row["Occurrences"]),
            }
            for row in csv.DictReader(failed)
        ]
    with (WORK / "locust_exceptions.csv").open() as raised:  # a task that broke: an error too
        exceptions = [{"message": row["Message"], "count": int(row["Count"])} for row in csv.DictReader(raised)]
    return {"overall": overall, "pages": pages, "failures": failures, "exceptions": exceptions}


# --- the report ----------------------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def table(figures: dict) -> str:
    run, overall, bulk, signin = figures["run"], figures["overall"], figures["bulk_edit"], figures["signin"]
    lines = [
        f"Load: {run['users']} users (a page every {THINK_SECONDS[0]}-{THINK_SECONDS[1]} s each) for "
        f"{run['window_seconds']:.0f} s after all signed in, against manage.py serve on PostgreSQL "
        f"({figures['dataset']['orchestrator_slices']:,} cached slices, {figures['dataset']['audit_entries']:,} audit "
        f"entries); load average {run['load_average_before'][0]:.1f} before, {run['load_average_after'][0]:.1f} after",
        f"target: no errors and p95 <= {TARGET_P95_MS:.0f} ms",
        "",
        f"{'page type':<28}{'requests':>9}{'errors':>8}{'req/s':>8}"
        + "".join(f"{heading:>8}" for heading in ("p50 ms", "p95 ms", "p99 ms", "max ms")),
    ]
    for page in [*figures["pages"], overall]:
        name = "all requests" if page is overall else page["name"]
        if page is overall:
            lines.append("-" * 85)
        lines.append(
            f"{name:<28}{page['requests']:>9,}{page['failures']:>8,}{page['requests_per_second']:>8.1f}"
            f"{_ms(page['p50_ms']):>8}{_ms(page['p95_ms']):>8}{_ms(page['p99_ms']):>8}{page['max_ms']:>8.0f}"
        )
    for failure in figures["failures"]:
        lines.append(f"  error x{failure['occurrences']}: {failure['method']} {failure['name']}: {failure['error']}")
    for exception in figures["exceptions"]:
        lines.append(f"  error x{exception['count']}: a task raised {exception['message']}")
    logins = signin["pages"].get("POST login", {"requests": 0, "p50_ms": None, "p95_ms": None, "max_ms": 0})
    lines += [
        "",
        f"Before the window: {logins['requests']} sign-ins in {signin['seconds']:.1f} s (POST /login/ p50 "
        f"{_ms(logins['p50_ms'])} ms, p95 {_ms(logins['p95_ms'])} ms, max {logins['max_ms']:.0f} ms); "
        f"{signin['all']['requests']} requests in all, {signin['all']['failures']} errors",
    ]
    for error in signin["errors"]:
        lines.append(f"  error x{error['occurrences']}: {error['name']}: {error['error']}")
    lines += ["", "Time inside the console by page type (its access log; no query strings, no queueing before it):"]
    for page, times in figures["server_times"].items():
        lines.append(
            f"  {page:<26}{times['requests']:>9,}{'':>16}{_ms(times['p50_ms']):>8}{_ms(times['p95_ms']):>8}"
            f"{_ms(times['p99_ms']):>8}{times['max_ms']:>8.0f}   {times['seconds']:>6.1f} s in all"
        )
    cpu = figures["cpu_during_window"]
    shares = ", ".join(f"{part} {cores:.2f}" for part, cores in cpu.items() if part not in ("cores", "busy_cores"))
    lines += ["", f"Cores busy during the window: {cpu['busy_cores']:.2f} of {cpu['cores']} ({shares})"]
    window, final = bulk["at_window_end"], bulk["final"]
    outcomes = ", ".join(f"{n:,} {state}" for state, n in sorted(final["counts"].items()))
    lines += [
        "",
        f"Bulk edit {bulk['job']}: {bulk['items']:,} slices -> CANCELLED, sandbox latency {bulk['latency_ms']} ms, "
        f"concurrency {bulk['concurrency']}, started with the window",
        f"  at the end of the window: {window['state']}, {window['done']:,} of {window['total']:,} done",
        f"  in the end: {final['state']}, {final['done']:,} of {final['total']:,} done ({outcomes})"
        + (f" in {bulk['seconds']:.1f} s" if bulk["seconds"] is not None else ""),
        "",
        f"requests/s {overall['requests_per_second']:.1f}   p50 {_ms(overall['p50_ms'])} ms   "
        f"p95 {_ms(overall['p95_ms'])} ms   p99 {_ms(overall['p99_ms'])} ms   errors {figures['errors']}   "
        f"{'PASS' if figures['pass'] else 'FAIL'}",
    ]
    return "\n".join(lines)


def _shown(argument: str) -> str:
    """A command-line argument as the report shows it: paths relative to the repository."""
    if argument.startswith(str(ROOT)):
        return str(Path(argument).relative_to(ROOT))
    return Path(argument).name if argument.startswith("/") else argument


def _postgres_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def _database_mib() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return round(cursor.fetchone()[0] / 1024**2)


def main() -> None:
    options = _arguments()
    _lock = _one_at_a_time()  # held until the process ends
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop the stack
    WORK.mkdir(parents=True, exist_ok=True)
    _ensure_database(options.server, options.database)
    sandbox_port = _free_port()
    environment = _setup_django(_database_url(options.server, options.database), sandbox_port)
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
        "database_mib": _database_mib(),
        **prepared["seeded"],
    }
    if options.seed_only:
        log(f"Seeded: {dataset}")
        return

    stack = Stack(options, environment, _free_port())
    log(f"Starting {' '.join(stack.command[1:])} (log: {stack.log_path.relative_to(ROOT)}) ...")
    try:
        ready_seconds = stack.wait_ready()
        log(f"  ready in {ready_seconds:.1f} s")
        _set_latency(sandbox_port, options.bulk_latency_ms)
        targets_path = WORK / "targets.json"
        targets_path.write_text(json.dumps(targets(prepared["bulk_ids"])))
        load_before = os.getloadavg()
        log(f"Locust: {options.users} users signing in, {options.spawn_rate:g} a second ...")
        locust = Locust(options, stack.url, targets_path)
        try:
            locust.wait_window()
            cpu_before = _cpu_by_part(stack.process.pid, locust.process.pid)
            bulk = BulkEdit(stack.url, prepared["token"])
            started = bulk.start(prepared["bulk_ids"])
            began = time.perf_counter()
            (WORK / "bulk-job").write_text(str(bulk.job))
            log(f"  all signed in and warmed up ({options.warmup} s): {options.seconds} s of browsing begin, and bulk "
                f"edit {bulk.job} of {started['total']:,} slices (the sandbox answering after "
                f"{options.bulk_latency_ms} ms)")  # fmt: skip
            time.sleep(options.seconds)
            cpu_after = _cpu_by_part(stack.process.pid, locust.process.pid)
            locust_exit = locust.wait(60)
        finally:
            locust.stop()
        load_after = os.getloadavg()
        at_window_end = _summary(bulk.state(), began)
        log(f"  window over (Locust exited with {locust_exit}); bulk edit {at_window_end['state']}, "
            f"{at_window_end['done']:,} of {at_window_end['total']:,} done. Waiting for it to end ...")  # fmt: skip
        final = bulk.wait(BULK_WAIT)
        final_summary = _summary(final, began)
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
        "machine": {**report.machine(), "postgresql": _postgres_version()},
        "code": code,
        "dataset": dataset,
        "run": {
            "serve": " ".join(stack.command[1:]),
            "locust": " ".join(_shown(arg) for arg in locust.command),
            "users": options.users,
            "spawn_rate": options.spawn_rate,
            "window_seconds": round(window["ended"] - window["started"], 1),
            "warmup_seconds": options.warmup,
            "think_seconds": list(THINK_SECONDS),
            "locust_exit_code": locust_exit,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "cpu_during_window": _cpu_used(cpu_before, cpu_after, options.seconds),
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
            "seconds": _seconds_between(final.get("startedAt"), final.get("finishedAt")),
        },
        "pass": passed,
    }
    log()
    log(table(figures))
    report.write_section(options.results, "load", figures)
    log(f"\nFigures written to {options.results}.")


if __name__ == "__main__":
    main()
