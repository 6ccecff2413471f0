"""Fixtures that start real processes and servers (the sandbox, a scripted HTTP server, a webhook receiver) and clean
up after."""

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from slices_admin.accounts.roles import assign_role
from slices_admin.audit import triggers
from slices_admin.sandbox.launcher import SandboxProcess, launch, stop_process

pytest_plugins = ["tests.processes"]

ROOT = Path(__file__).resolve().parent.parent
(ROOT / "var").mkdir(exist_ok=True)  # the test database is a file there, shared with worker processes

# Property tests: the same examples on every run (CI and a failure reproduce), no deadline on a shared machine, and
# a failing example printed as a blob to replay with @reproduce_failure. HYPOTHESIS_PROFILE=explore draws new
# examples on each run (and keeps the failing ones in .hypothesis/ to try first next time).
hypothesis_settings.register_profile("repeatable", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("explore", deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def _audit_triggers_lifted_for_flush(request):
    """A transactional test ends by emptying every table, which the audit triggers refuse: lift them just for that
    flush (the `post_migrate` the flush sends puts them back)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from django.db import connection

    triggers.remove(connection)


# --- the sandbox, as its own process ---------------------------------------------------------------------------------
class Sandbox(SandboxProcess):
    """A sandbox process started by `launch`, with the calls tests make to it."""

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"x-api-key": self.api_key, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def request_count(self) -> int:
        return self.stats()["requests"]

    def put_count(self, slice_id: str) -> int:
        return self.stats()["putCounts"].get(slice_id, 0)

    def get(self, path: str, slice_id: str) -> dict:
        response = self.call("GET", f"/api/{path}/{slice_id}")
        response.raise_for_status()
        return response.json()

    def new_orchestrator_slice(self, **fields) -> dict:
        body = {
            "status": "FAILED",
            "pipelineExecutionId": str(uuid.uuid4()),
            "organizationId": "org-test",
            **fields,
        }
        response = self.call("POST", "/api/orchestrator-execution-slices", json=body)
        response.raise_for_status()
        return response.json()

    def put(self, record: dict, **changes) -> dict:
        """Change a record directly on the sandbox, as another Kodexa client would."""
        response = self.call("PUT", f"/api/orchestrator-execution-slices/{record['id']}", json={**record, **changes})
        response.raise_for_status()
        return response.json()


def start_sandbox(data: Path, api_key: str, *extra: str) -> Sandbox:
    """The sandbox on `data`, on a free port unless `extra` options say otherwise."""
    running = launch(data, *extra, api_key=api_key)
    return Sandbox(running.url, running.api_key, running.process)


def stop(process: subprocess.Popen) -> None:
    """Stop a sandbox by its process: tests that take Kodexa away, then bring it back on the same port."""
    stop_process(process)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    api_key = "kx-test-" + secrets.token_hex(12)
    running = start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3", api_key, "--seed", "300")
    yield running
    running.stop()


@pytest.fixture
def kodexa(sandbox, settings) -> Iterator[Sandbox]:
    """Point the console at the sandbox process, with short timeouts; faults are cleared afterwards."""
    settings.KODEXA_BASE_URL = sandbox.url
    settings.KODEXA_API_KEY = sandbox.api_key
    settings.KODEXA_SANDBOX = True
    settings.KODEXA_READ_TIMEOUT = 2
    settings.KODEXA_MAX_RETRY_WAIT = 1
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def failed_slices(kodexa):
    """FAILED slices made on the sandbox, in a pipeline execution of their own, and cached as a sync leaves them."""
    from tests.factories import cache_orchestrator

    def make(n: int, **fields) -> list[dict]:
        pipeline = f"pipe-{uuid.uuid4()}"
        records = [
            kodexa.new_orchestrator_slice(status="FAILED", pipelineExecutionId=pipeline, **fields) for _ in range(n)
        ]
        cache_orchestrator(*records)
        return records

    return make


# --- an OpenID Connect provider, as its own process -----------------------------------------------------------------
@pytest.fixture(scope="session")
def identity_provider():
    """oidc-provider-mock on 127.0.0.1 (see `tests.identity_provider`), stopped at the end of the session."""
    from tests.identity_provider import start_identity_provider

    running = start_identity_provider()
    yield running
    running.stop()


@pytest.fixture
def oidc(settings, identity_provider):
    """Turns sign-in with `identity_provider` on: `oidc(base_url="http://testserver", **settings)`, the secret."""
    from tests.identity_provider import configure_console

    return lambda base_url="http://testserver", **overrides: configure_console(
        settings, identity_provider, base_url, **overrides
    )


# --- background workers, as their own processes --------------------------------------------------------------------
def database_url(db: dict) -> str:
    """A DATABASE_URL for the database a test runs on (the test database, not the configured one)."""
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    from urllib.parse import quote

    credentials = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def start_worker(kodexa):
    """Start `manage.py db_worker` processes on the test database (a file) and the sandbox; all are killed after.
    Only for `django_db(transaction=True)` tests: a worker sees committed rows only."""
    from django.db import connection

    started: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "KODEXA_BASE_URL": kodexa.url,
            "KODEXA_API_KEY": kodexa.api_key,
            "KODEXA_SANDBOX": "1",
            **env,
        }
        command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2", "-v0", *args]
        process = subprocess.Popen(command, cwd=ROOT, env=environment)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _empty_cache():
    """The process cache (the dashboard as last read) must not carry over from one test to the next. The stored
    dashboard (`DashboardSnapshot`) goes with the database: rolled back after each test, or flushed after a
    transactional one once its worker processes are killed."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def quick(settings):
    """Bulk edits: retries after milliseconds, eight requests in flight, no typed confirmation below 1,000 slices."""
    settings.BULK_BACKOFF_SECONDS = 0.01
    settings.BULK_CONCURRENCY = 8
    settings.BULK_CONFIRM_THRESHOLD = 1000


# --- users ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def make_user(db):
    def make(role: str, username: str | None = None):
        user = get_user_model().objects.create_user(username or f"{role}-{secrets.token_hex(3)}", password="x" * 12)
        assign_role(user, role)
        return user

    return make


@pytest.fixture
def operator_user(make_user):
    return make_user("operator")


@pytest.fixture
def as_role(client, make_user):
    """The test client, signed in as a new user of the given role."""

    def login(role):
        client.force_login(make_user(role))
        return client

    return login


@pytest.fixture
def viewer_client(as_role) -> Client:
    return as_role("viewer")


@pytest.fixture
def operator_client(as_role) -> Client:
    return as_role("operator")


@pytest.fixture
def admin_client(as_role) -> Client:
    """Signed in with the console's admin role (in place of pytest-django's superuser, whom the console never has)."""
    return as_role("admin")


@pytest.fixture
def api(make_user):
    """An API client authenticated with a real personal token for a user of the given role."""
    from tests.factories import api_token

    def client_for(role: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(make_user(role))}")
        return client

    return client_for


@pytest.fixture
def viewer_api(api) -> APIClient:
    return api("viewer")


@pytest.fixture
def operator_api(api) -> APIClient:
    return api("operator")


@pytest.fixture
def admin_api(api) -> APIClient:
    return api("admin")
