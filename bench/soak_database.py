"""The soak's database faults: the PostgreSQL server crashed (`scripts/postgres.sh crash`: `pg_ctl stop -m immediate`)
in the middle of the bulk edit and again in the middle of a full sync from the sandbox, and started again after a few
seconds. While it is down a page and an API endpoint are asked for, twice a second: each must answer 503 (the page
saying the database is not answering, the API its JSON) at once, never a 500 or nothing. Then the checks that the sync
resumed and finished, its cache matching the sandbox, audited once."""

import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench import ROOT
from bench.soak_checks import check_result
from bench.soak_processes import Sandbox
from bench.support import log

DOWN_SECONDS = (3.0, 6.0)  # how long the server stays down, drawn per outage
PROBE_EVERY = 0.5
PROBE_TIMEOUT = 10.0  # a probe not answered within this counts as hung
RECOVERY_TIMEOUT = 60.0  # the web must answer 200 again within this after the restart
BULK_CRASH_AT = (0.42, 0.48)  # share of the job's items done: between the second and the third kill
SYNC_LATENCY_MS = 1000  # the sandbox's latency while the sync runs: a page a second, so the crash lands mid-sync
SYNC_TIMEOUT = 600.0
PAGE, API = "page", "api"


# --- the server ------------------------------------------------------------------------------------------------------
class Server:
    """The PostgreSQL server `scripts/postgres.sh` runs (PG_PORT, PG_DATA): crashed and started again. Refuses a
    server the script does not run, so a soak never crashes someone else's."""

    def __init__(self, database_url: str):
        script = self._script("url").strip()
        ours, given = urlsplit(script), urlsplit(database_url)
        if (ours.hostname, ours.port) != (given.hostname, given.port):
            raise SystemExit(
                f"The database faults crash the server scripts/postgres.sh runs ({ours.hostname}:{ours.port}, from "
                f"PG_PORT), not {given.hostname}:{given.port}: set PG_PORT and PG_DATA to that server's, or pass "
                "--no-database-faults."
            )
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            committing = conn.execute("SHOW synchronous_commit").fetchone()[0]
        if committing == "off":  # also keeps the soak off the shared server tests and benchmarks run on
            raise SystemExit(
                "The server commits asynchronously (synchronous_commit=off): a crash loses commits it acknowledged, "
                "which the checks would blame on the console. `make soak` starts its own with "
                "PG_SYNCHRONOUS_COMMIT=on; or pass --no-database-faults."
            )

    @staticmethod
    def _script(command: str) -> str:
        done = subprocess.run(  # noqa: S603 (the repository's script, fixed arguments)
            [str(ROOT / "scripts" / "postgres.sh"), command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(f"scripts/postgres.sh {command} failed: {done.stderr.strip()}")
        return done.stdout

    def crash(self) -> None:
        self._script("crash")

    def start(self) -> None:
        self._script("start")


def synchronous_commit() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


# --- asking the web --------------------------------------------------------------------------------------------------
@dataclass
class Prober:
    """A signed-in operator's page and a token's API endpoint on the soak's web server."""

    web_url: str
    cookies: dict[str, str]
    token: str
    api_path: str = "/api/v1/bulk-edits"
    page_path: str = "/slices/orchestrator/"

    def ask(self, kind: str) -> dict:
        """One request: its status (None: no answer in PROBE_TIMEOUT), whether it is the database's 503, how long."""
        import requests

        began = time.monotonic()
        try:
            if kind == PAGE:
                answer = requests.get(
                    self.web_url + self.page_path, cookies=self.cookies, timeout=PROBE_TIMEOUT, allow_redirects=False
                )
                unavailable = answer.status_code == 503 and "database is not answering" in answer.text
            else:
                headers = {"Authorization": f"Token {self.token}"}
                answer = requests.get(self.web_url + self.api_path, headers=headers, timeout=PROBE_TIMEOUT)
                unavailable = answer.status_code == 503 and _json_code(answer) == "database_unavailable"
            status = answer.status_code
        except requests.RequestException as exc:
            status, unavailable = None, False
            log(f"    {kind} probe: no answer ({type(exc).__name__})")
        seconds = round(time.monotonic() - began, 3)
        return {"kind": kind, "status": status, "unavailable": unavailable, "seconds": seconds}

    def both_ok(self) -> bool:
        return all(self.ask(kind)["status"] == 200 for kind in (PAGE, API))


def _json_code(answer) -> str | None:
    try:
        return answer.json().get("code")
    except ValueError:
        return None


def sign_in(web_url: str) -> Prober:
    """An operator with a session (as a browser holds it) and an API token, made in the soak's database."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from slices_admin.accounts.roles import OPERATOR, assign_role
    from slices_admin.audit.services import AuditContext
    from slices_admin.tokens.services import issue_token

    user = get_user_model().objects.create_user("soak-operator")
    assign_role(user, OPERATOR)
    browser = Client()
    browser.force_login(user)
    _, token = issue_token(user, name="make soak", days=1, context=AuditContext.system("soak"))
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return Prober(web_url, {settings.SESSION_COOKIE_NAME: session}, token)


# --- an outage -------------------------------------------------------------------------------------------------------
def outage(server: Server, prober: Prober, down: float, during: str, **detail) -> dict:
    """Crash the server, ask the web twice a second while it is down, start it again, and time until the web
    answers 200 again. This process's own connection died with the server: it is dropped."""
    from django.db import connections

    log(f"  DATABASE CRASH during the {during} ({', '.join(f'{k} {v}' for k, v in detail.items())}); down {down:.1f} s")
    began = time.monotonic()
    server.crash()
    probes: list[dict] = []
    while time.monotonic() - began < down:
        probes.extend(prober.ask(kind) for kind in (PAGE, API))
        time.sleep(PROBE_EVERY)
    server.start()
    restarted = time.monotonic()
    connections.close_all()
    recovered = None
    while time.monotonic() - restarted < RECOVERY_TIMEOUT:
        if prober.both_ok():
            recovered = round(time.monotonic() - restarted, 2)
            break
        time.sleep(PROBE_EVERY)
    statuses = {kind: [p["status"] for p in probes if p["kind"] == kind] for kind in (PAGE, API)}
    log(
        f"  database back after {restarted - began:.1f} s; web answered 200 again {recovered} s later; during the "
        f"outage the page answered {_tally(statuses[PAGE])}, the API {_tally(statuses[API])}"
    )
    return {
        "during": during,
        **detail,
        "down_seconds": round(restarted - began, 2),
        "web_back_after_restart_seconds": recovered,
        "probes": len(probes),
        "statuses": {kind: _tally(found) for kind, found in statuses.items()},
        "probes_not_503": [p for p in probes if not p["unavailable"]],
        "slowest_probe_seconds": max((p["seconds"] for p in probes), default=None),
    }


def _tally(statuses: list[int | None]) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        key = str(status) if status is not None else "no answer"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{status} x{n}" for status, n in sorted(counts.items())) or "nothing"


def tolerant[T](read, default: T) -> T:
    """A read of the soak's own that meets the database down: the default, and the broken connection dropped."""
    from django.db import InterfaceError, OperationalError, connections

    try:
        return read()
    except (OperationalError, InterfaceError):
        connections.close_all()
        return default


# --- the sync --------------------------------------------------------------------------------------------------------
def sync_through_outage(server: Server, prober: Prober, sandbox: Sandbox, down: float) -> dict:
    """A full sync from the sandbox, queued as the page queues it and run by a worker, with the server crashed once
    its first page is written; waits for the run to end."""
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.slices.models import SyncRun
    from slices_admin.slices.services import start_sync

    sandbox.clear_faults()
    sandbox.set_faults(latencyMs=SYNC_LATENCY_MS)
    began = time.monotonic()
    run = start_sync(ORCHESTRATOR_SLICE, full=True)
    log(f"Full sync (run {run.pk}) from the sandbox at {SYNC_LATENCY_MS} ms a page ...")
    current = SyncRun.objects.filter(pk=run.pk)
    while (row := current.values("status", "pages", "expected").get())["pages"] < 1:
        if time.monotonic() - began > SYNC_TIMEOUT:
            raise TimeoutError(f"The sync wrote no page within {SYNC_TIMEOUT:g} s.")
        time.sleep(0.05)
    pages = -(-row["expected"] // 500) if row["expected"] else None
    crash = outage(server, prober, down, "sync", sync_run=run.pk, pages_written=row["pages"], pages=pages)
    crash["mid_run"] = row["status"] == SyncRun.Status.RUNNING and pages is not None and row["pages"] < pages
    while (status := tolerant(lambda: current.values_list("status", flat=True).get(), None)) not in (
        SyncRun.Status.SUCCEEDED,
        SyncRun.Status.FAILED,
    ):
        if time.monotonic() - began > SYNC_TIMEOUT:
            raise TimeoutError(f"The sync did not end within {SYNC_TIMEOUT:g} s (status {status}).")
        time.sleep(0.25)
    seconds = round(time.monotonic() - began, 1)
    sandbox.clear_faults()
    log(f"  sync run {run.pk} {status} after {seconds} s")
    return {"run": run.pk, "seconds": seconds, "outage": crash}


def check_sync(run_id: int, sandbox: Sandbox) -> tuple[list[dict], dict]:
    """The run ended well after the crash, the cache holds exactly what the sandbox holds, and one audit entry."""
    from slices_admin.audit.models import AuditEntry
    from slices_admin.slices.models import OrchestratorSlice, SyncRun

    run = SyncRun.objects.get(pk=run_id)
    remote = sandbox.records()
    cached = dict(OrchestratorSlice.objects.values_list("id", "raw"))
    differing = sorted(slice_id for slice_id, record in remote.items() if cached.get(slice_id) != record)
    extra = sorted(set(cached) - set(remote))
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.SYNC, request_body__syncRun=run_id).count()
    figures = {
        "status": run.status,
        "pages": run.pages,
        "records": run.records,
        "expected": run.expected,
        "gone": run.gone,
        "sandbox_records": len(remote),
        "cached_records": len(cached),
        "differing": len(differing),
        "audit_entries": entries,
    }
    checks = [
        check_result(
            "the sync resumed after the crash and finished",
            run.status == SyncRun.Status.SUCCEEDED and run.records == run.expected == len(remote) and not run.error,
            f"run {run.pk} {run.status}: {run.pages} pages, {run.records:,} records of {run.expected:,} listed"
            + (f"; error: {run.error}" if run.error else ""),
        ),
        check_result(
            "the sync's cache matches the sandbox",
            not differing and not extra and run.gone == 0,
            f"{len(remote) - len(differing):,} of {len(remote):,} sandbox slices cached as the sandbox holds them, "
            f"{len(extra)} cached that it does not hold, {run.gone} flagged gone"
            + (f"; differing: {', '.join(differing[:5])}" if differing else ""),
        ),
        check_result("the sync audited once", entries == 1, f"{entries} sync audit entries for run {run.pk}"),
    ]
    return checks, figures


def check_outages(outages: list[dict]) -> list[dict]:
    """Every probe during an outage was the database's 503, each crash landed mid-work, the web came back."""
    probes = sum(o["probes"] for o in outages)
    wrong = [p for o in outages for p in o["probes_not_503"]]
    where = "; ".join(f"{o['during']}: page {o['statuses'][PAGE]}, API {o['statuses'][API]}" for o in outages)
    back = [o["web_back_after_restart_seconds"] for o in outages]
    return [
        check_result(
            "web during the outages: the 503 page and the API's 503 JSON, no 500, no hang",
            bool(outages) and probes > 0 and not wrong,
            f"{probes - len(wrong)} of {probes} requests answered the database's 503 ({where})"
            + (f"; wrong: {wrong[:5]}" if wrong else ""),
        ),
        check_result(
            "each crash landed mid-work and the web answered 200 after the restart",
            len(outages) == 2 and all(o.get("mid_run") for o in outages) and None not in back,
            ", ".join(
                f"{o['during']} ({'mid-run' if o.get('mid_run') else 'NOT mid-run'}): back {o['down_seconds']} s "
                f"after the crash, 200 again {o['web_back_after_restart_seconds']} s later"
                for o in outages
            ),
        ),
    ]


def table_lines(faults: dict) -> list[str]:
    sync = faults["sync"]
    lines = [
        f"database faults: PostgreSQL crashed (pg_ctl stop -m immediate) {len(faults['outages'])} times, "
        f"synchronous_commit {faults['synchronous_commit']}"
    ]
    for o in faults["outages"]:
        at = (
            f"{o['done']:,} of {o['total']:,} items done"
            if o["during"] == "bulk edit"
            else f"{o['pages_written']} of {o['pages']} pages written"
        )
        lines.append(
            f"  during the {o['during']} at {at}: down {o['down_seconds']} s; page {o['statuses'][PAGE]}, "
            f"API {o['statuses'][API]} (slowest {o['slowest_probe_seconds']} s); 200 again "
            f"{o['web_back_after_restart_seconds']} s after the restart"
        )
    lines.append(
        f"  sync run {sync['run']}: {sync['status']} in {sync['seconds']} s, {sync['pages']} pages, "
        f"{sync['records']:,} records; cache {sync['cached_records']:,} rows, {sync['differing']} differing from "
        f"the sandbox's {sync['sandbox_records']:,}; {sync['audit_entries']} audit entry"
    )
    return lines
