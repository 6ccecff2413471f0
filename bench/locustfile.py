"""The people `make load` puts on the console: they sign in, then browse as operations staff do.

Run by `bench/load.py` (`locust -f bench/locustfile.py --headless ...`). `LOAD_TARGETS` names a JSON file of what
exists in the load database: slice ids, pipeline executions, organizations, module runtimes, error texts, audit
entry ids and people, and the demo logins. Each simulated person signs in through the login form (its CSRF token
included), then, a page every one to three seconds, opens the dashboard, lists of slices with filters, sorts and
pages (as full pages and as the htmx fragments the list asks for), slice details, the audit trail with its filters
and older pages, audit entries, and the bulk edit's page with its progress polls. Every answer is checked for its
status and a marker of the right page, so a wrong page counts as an error. Request names are the page types the
report groups by.

Nobody browses before the last person has signed in (sign-ins hash a password on purpose; people signed in early
wait for the others, then begin after a think time, so no page queues behind a sign-in); the sign-in figures then
go to `signin.json` in `LOAD_STATE_DIR`. The first `LOAD_WARMUP_SECONDS` of browsing warm the server as any
running deployment is warm (each web process compiles the page templates and opens its database connections on
first use) and are not measured: then the statistics are reset, `window.json` there says when the window started,
and `LOAD_WINDOW_SECONDS` later the people stop and Locust quits, its CSV files holding the window alone. The
bulk edit is started by the driver when the window starts; it writes the job's id to `bulk-job` there.
"""

import itertools
import json
import os
import random
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import gevent
from gevent.event import Event
from locust import FastHttpUser, between, task

TARGETS = json.loads(Path(os.environ["LOAD_TARGETS"]).read_text())
STATE = Path(os.environ["LOAD_STATE_DIR"])
WINDOW_SECONDS = float(os.environ.get("LOAD_WINDOW_SECONDS", "60"))
WARMUP_SECONDS = float(os.environ.get("LOAD_WARMUP_SECONDS", "15"))
USERS = int(os.environ["LOAD_USERS"])

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_ROLES = itertools.cycle(("viewer", "operator", "viewer", "operator", "admin"))
_SLICE_SORTS = ("-updatedOn", "-queuedAt", "-startedAt", "durationMs", "-durationMs", "status", "-attemptNumber")
_HTMX = {"HX-Request": "true"}
_OLD_PAGE_AFTER = 5  # pages deeper than this are rare: people refine the filter instead


def _minute(moment: datetime) -> str:
    """As a datetime-local field holds it (the form the pages send)."""
    return moment.strftime("%Y-%m-%dT%H:%M")


_signed_in = 0
_everyone_signed_in = Event()
_bulk_job: int | None = None


def _summary(entry) -> dict:
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        **{f"p{round(q * 100)}_ms": entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)},
        "max_ms": entry.max_response_time,
    }


def _record_sign_ins(environment) -> None:
    """Everyone is signed in: keep the sign-in figures, then warm up before the window."""
    stats = environment.stats
    signin = {
        "seconds": round(time.time() - stats.total.start_time, 1),
        "pages": {f"{entry.method} {entry.name}": _summary(entry) for entry in stats.entries.values()},
        "all": _summary(stats.total),
        "errors": [
            {"name": e.name, "error": str(e.error), "occurrences": e.occurrences} for e in stats.errors.values()
        ],
    }
    (STATE / "signin.json").write_text(json.dumps(signin))
    gevent.spawn_later(WARMUP_SECONDS, _start_window, environment)


def _start_window(environment) -> None:
    """Warm: reset the statistics (the warm-up's are not measured), and stop the run after the window."""
    environment.stats.reset_all()
    (STATE / "window.json").write_text(json.dumps({"started": time.time(), "seconds": WINDOW_SECONDS}))
    gevent.spawn_later(WINDOW_SECONDS, _end_window, environment)


def _end_window(environment) -> None:
    """Stop the people (requests still in flight are not counted), let the CSV writer catch up, then quit."""
    (STATE / "window.json").write_text(
        json.dumps({**json.loads((STATE / "window.json").read_text()), "ended": time.time()})
    )
    environment.runner.stop()
    gevent.sleep(2.5)  # Locust rewrites its CSV files every second
    environment.runner.quit()


def bulk_job() -> int | None:
    """The bulk edit's id, once the driver has started it."""
    global _bulk_job
    if _bulk_job is None:
        path = STATE / "bulk-job"
        if path.exists() and path.read_text().strip():
            _bulk_job = int(path.read_text())
    return _bulk_job


class Operator(FastHttpUser):
    """A person of the operations team, in one browser session."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.role = next(_ROLES)
        self.rng = random.Random()
        try:
            self._sign_in()
        finally:
            global _signed_in
            _signed_in += 1
            if _signed_in == USERS:
                _record_sign_ins(self.environment)
                _everyone_signed_in.set()
        _everyone_signed_in.wait()
        gevent.sleep(self.wait_time())  # people start at their own pace, not all in the same instant

    def _sign_in(self) -> None:
        form = self.client.get("/login/", name="login form")
        token = _CSRF.search(form.text or "")
        if token is None:
            raise RuntimeError("The login form has no CSRF token.")
        login = {
            "username": self.role,
            "password": TARGETS["passwords"][self.role],
            "csrfmiddlewaretoken": token.group(1),
        }
        with self.client.post(
            "/login/", data=login, name="login", allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code != 302 or "/login/" in (answer.headers.get("Location") or ""):
                answer.failure(f"sign-in as {self.role} refused ({answer.status_code})")

    # --- helpers -------------------------------------------------------------------------------------------------
    def _get(self, url: str, name: str, marker: str, *, htmx: bool = False, statuses=(200,)) -> str:
        """GET a page; count it as failed unless its status is expected and it holds `marker` (a fragment must
        also not be a whole page)."""
        with self.client.get(url, name=name, headers=_HTMX if htmx else None, catch_response=True) as answer:
            body = answer.text or ""
            if answer.status_code not in statuses:
                answer.failure(f"status {answer.status_code}")
            elif marker not in body:
                answer.failure(f"no {marker!r} in the answer")
            elif htmx and "<html" in body:
                answer.failure("a whole page where a fragment was asked for")
            else:
                answer.success()
            return body

    def _slice_filter(self) -> dict:
        """One of the filters people use, with values from the data."""
        rng, t = self.rng, TARGETS
        now = datetime.now(UTC)
        choices = (
            {},
            {"status": "FAILED"},
            {"status": "FAILED", "sort": "-queuedAt"},
            {"status": ["FAILED", "CANCELLED"]},
            {"status": "RUNNING", "leaseExpired": "true"},
            {"status": "PENDING", "sort": "queuedAt"},
            {"hasError": "true"},
            {"organizationId": rng.choice(t["organizations"])},
            {"moduleRuntimeId": rng.choice(t["module_runtimes"]), "sort": "-durationMs"},
            {"pipelineExecutionId": rng.choice(t["pipeline_executions"]), "sort": "sliceOrder"},
            {"q": rng.choice(t["slice_ids"])},
            {"q": rng.choice(t["error_words"])},
            {"attemptAtLeast": "3", "status": "FAILED"},
            {"updatedOn_after": _minute(now - timedelta(days=rng.randint(1, 7)))},
            {"queuedAt_after": _minute(now - timedelta(days=20)), "queuedAt_before": _minute(now - timedelta(days=19))},
            {"status": "SUCCEEDED", "organizationId": rng.choice(t["organizations"]), "sort": "-durationMs"},
        )
        params = dict(rng.choice(choices))
        if "sort" not in params and rng.random() < 0.4:
            params["sort"] = rng.choice(_SLICE_SORTS)
        if rng.random() < 0.3:
            params["pageSize"] = rng.choice((25, 100, 200))
        if rng.random() < 0.3:
            params["page"] = rng.randint(2, _OLD_PAGE_AFTER) if rng.random() < 0.9 else rng.randint(6, 40)
        return params

    def _audit_filter(self) -> dict:
        rng, t = self.rng, TARGETS
        now = datetime.now(UTC)
        since = now - timedelta(days=rng.randint(30, 300))
        choices = (
            {},
            {"outcome": "failed"},
            {"outcome": "conflict", "action": "update"},
            {"actor": rng.choice(t["audit_actors"])},
            {"action": "patch"},
            {
                "resource": "orchestrator-execution-slices",
                "since": _minute(since),
                "until": _minute(since + timedelta(days=30)),
            },
            {"objectId": rng.choice(t["audited_slices"])},
            {"bulkJob": str(bulk_job() or 1)},
            # The search box: a person, a slice id, words of an error or of a bulk edit's reason.
            {
                "q": rng.choice(
                    (rng.choice(t["audit_actors"]), rng.choice(t["audited_slices"]), "Bad Gateway", "outage")
                )
            },
        )
        return dict(rng.choice(choices))

    # --- what people do ------------------------------------------------------------------------------------------
    @task(2)
    def dashboard(self) -> None:
        self._get("/slices/", "dashboard", "at a glance")

    @task(3)
    def slice_list_page(self) -> None:
        """A list opened from a link or a saved view: the whole page."""
        query = urlencode(self._slice_filter(), doseq=True)
        self._get(f"/slices/orchestrator/?{query}", "slice list (page)", 'id="slice-table"')

    @task(6)
    def slice_list_fragment(self) -> None:
        """A filter changed, a column sorted or a page turned on the list: htmx asks for the results fragment."""
        query = urlencode(self._slice_filter(), doseq=True)
        self._get(f"/slices/orchestrator/?{query}", "slice list (htmx)", 'class="results-head"', htmx=True)

    @task(4)
    def slice_detail(self) -> None:
        slice_id = self.rng.choice(TARGETS["slice_ids"])
        self._get(f"/slices/orchestrator/{quote(slice_id)}/", "slice detail", slice_id)

    @task(2)
    def audit_page(self) -> None:
        query = urlencode(self._audit_filter())
        self._get(f"/audit/?{query}", "audit list (page)", 'id="entries"')

    @task(2)
    def audit_fragment(self) -> None:
        """A filter changed, or an older page asked for, on the audit trail."""
        params = self._audit_filter()
        if self.rng.random() < 0.4:
            params["before"] = self.rng.choice(TARGETS["audit_entries"])
        elif self.rng.random() < 0.1:
            params["last"] = "1"
        self._get(f"/audit/?{urlencode(params)}", "audit list (htmx)", 'class="results-head"', htmx=True)

    @task(2)
    def audit_entry(self) -> None:
        entry = self.rng.choice(TARGETS["audit_entries"])
        self._get(f"/audit/{entry}/", "audit entry", f"Entry {entry}")

    @task(1)
    def bulk_job(self) -> None:
        """The bulk job's page, watched for a few seconds (it polls its progress every second)."""
        job = bulk_job()
        if job is None:
            return
        self._get(f"/bulk/{job}/", "bulk job (page)", f"Bulk edit {job}")
        for _ in range(3):
            gevent.sleep(1)
            self._get(f"/bulk/{job}/progress/", "bulk progress (htmx poll)", "done", htmx=True, statuses=(200, 286))

    @task(1)
    def bulk_list(self) -> None:
        self._get("/bulk/", "bulk list", "Bulk edits")
