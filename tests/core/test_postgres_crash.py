"""A real PostgreSQL crash (`pg_ctl stop -m immediate`) and restart under a running console: while the server is down
the web answers the database's 503 (page and API), the background worker lives through it without a restart, and the
bulk edit it was working goes on and ends with every item changed once and the audit chain intact.

The server crashed is the test's own (scripts/postgres.sh on a free port and a data folder in the test's temporary
directory), never the one the suite runs on. Only when the suite runs on PostgreSQL (whose binaries it needs)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres.sh"
ITEMS = 40  # below the confirmation threshold: the API takes them without a typed count

# Run in the crashed server's console: an operator with a session (as a browser holds it) and an API token.
SIGN_IN = """
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from slices_admin.accounts.roles import OPERATOR, assign_role
from slices_admin.audit.services import AuditContext
from slices_admin.tokens.services import issue_token
user = get_user_model().objects.create_user("crash-operator")
assign_role(user, OPERATOR)
browser = Client()
browser.force_login(user)
_, token = issue_token(user, name="crash test", days=1, context=AuditContext.system("test"))
print(json.dumps({"cookie": [settings.SESSION_COOKIE_NAME, browser.cookies[settings.SESSION_COOKIE_NAME].value],
                  "token": token}))
"""


def postgres(command: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"scripts/postgres.sh {command}: {done.stderr}"
    return done.stdout.strip()


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, dict[str, str]]]:
    """A PostgreSQL server of this test's own: its DATABASE_URL, and the environment scripts/postgres.sh needs to
    crash and start that one server again."""
    if connection.vendor != "postgresql":
        pytest.skip("crashes a PostgreSQL server of its own: runs when the suite runs on PostgreSQL")
    port = free_port()
    # Under var/ rather than the test's temporary folder: run as root, the server runs as `postgres`, which may not
    # enter a folder private to root. The script makes the folder (and gives it to `postgres`).
    data = ROOT / "var" / f"postgres-crash-test-{port}"
    env = {
        **os.environ,
        "PG_PORT": str(port),
        "PG_DATA": str(data),
        "PG_SYNCHRONOUS_COMMIT": "on",  # a commit acknowledged before the crash is kept
    }
    try:
        yield postgres("start", env), env
    finally:
        postgres("stop", env)
        shutil.rmtree(data, ignore_errors=True)


def test_the_console_lives_through_a_postgresql_crash(own_postgres, sandbox, tmp_path):
    url, pg_env = own_postgres
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KODEXA_BASE_URL": sandbox.url,
        "KODEXA_API_KEY": sandbox.api_key,
        "KODEXA_SANDBOX": "1",
        "BULK_CONCURRENCY": "8",
        "BULK_HEARTBEAT_SECONDS": "0.5",
        "BULK_STALE_AFTER_SECONDS": "2",
        "BULK_SWEEP_SECONDS": "0.5",
        "KODEXA_READ_TIMEOUT": "2",
        "LOG_FORMAT": "plain",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"manage.py {args[0]}: {done.stdout}{done.stderr}"
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    signed_in = json.loads(manage("shell", "-c", SIGN_IN).strip().splitlines()[-1])
    ids = [sandbox.new_orchestrator_slice()["id"] for _ in range(ITEMS)]
    port = free_port()
    web_log, worker_log = (tmp_path / "web.log").open("w"), (tmp_path / "worker.log").open("w")
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    web = subprocess.Popen(
        [*gunicorn, "--workers", "1", "--threads", "2"], cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    api = requests.Session()
    api.headers["Authorization"] = f"Token {signed_in['token']}"
    cookies = dict([signed_in["cookie"]])
    sandbox.set_faults(latencyMs=300)  # the edit takes seconds: the crash lands in its middle
    try:
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=30)
        created = api.post(
            f"{base}/api/v1/bulk-edits", json={"ids": ids, "targetStatus": "PENDING", "reason": "a crash"}, timeout=30
        )
        assert created.status_code == 201, created.text
        job = f"{base}/api/v1/bulk-edits/{created.json()['id']}"
        wait_for(lambda: api.get(job, timeout=10).json()["done"] >= 8, timeout=30)

        postgres("crash", pg_env)
        down_since = time.monotonic()
        page = requests.get(f"{base}/slices/orchestrator/", cookies=cookies, timeout=10, allow_redirects=False)
        refused = api.get(job, timeout=10)
        assert page.status_code == 503 and "database is not answering" in page.text
        assert refused.status_code == 503 and refused.json()["code"] == "database_unavailable"
        time.sleep(max(0.0, 2 - (time.monotonic() - down_since)))  # down for two seconds
        assert worker.poll() is None, "the worker should wait for the database, not exit"
        postgres("start", pg_env)
        sandbox.clear_faults()  # the rest of the edit at full speed

        wait_for(lambda: api.get(job, timeout=10).json()["state"] == "finished", timeout=60)
        document = api.get(job, timeout=10).json()
        again = requests.get(f"{base}/slices/orchestrator/", cookies=cookies, timeout=10, allow_redirects=False)
    finally:
        sandbox.clear_faults()
        for process in (web, worker):
            process.terminate()
            process.wait(timeout=30)
        web_log.close()
        worker_log.close()

    assert worker.returncode in (0, -15), "the same worker process worked the job to its end"
    assert again.status_code == 200
    assert document["done"] == document["total"] == ITEMS
    assert document["counts"]["succeeded"] == ITEMS, document["counts"]
    assert {slice_id: sandbox.put_count(slice_id) for slice_id in ids} == dict.fromkeys(ids, 1)  # none applied twice
    assert "Audit chain intact" in manage("verify_audit")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
