"""`manage.py serve` (`make serve`): the production stack over plain http on this machine — gunicorn, background
workers and the sandbox — ready behind `/readyz`, stopped by SIGTERM, and stopped by any child that dies."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from slices_admin.core.addresses import is_loopback
from slices_admin.core.management.commands.serve import _local_secret_key
from tests.conftest import ROOT
from tests.core.test_run_console import answers


def wait_until_ready(url: str, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{url}/readyz", timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_serve_runs_the_production_stack_until_sigterm(serve):
    process, url, output = serve()
    assert f"Slices console: {url}/" in output, output
    assert "production settings, plain http on this machine" in output
    ready = wait_until_ready(url)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"

    session = requests.Session()
    login = session.get(f"{url}/login/", timeout=5)
    assert "Strict-Transport-Security" not in login.headers  # plain http: no HSTS, no redirect
    assert re.search(r'/static/css/app\.[0-9a-f]{12}\.css"', login.text)  # collectstatic's hashed names
    password = re.search(r"operator\s+(\S+)", output).group(1)
    signed_in = session.post(
        f"{url}/login/",
        {"username": "operator", "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{url}/login/"},
        timeout=10,
    )
    assert signed_in.status_code == 200 and "at a glance" in signed_in.text
    assert ">300</strong>" in session.get(f"{url}/slices/orchestrator/", timeout=10).text

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not answers(f"{url}/healthz")


def test_serve_stops_everything_and_fails_when_a_child_dies(serve, serve_env):
    process, url, _ = serve()
    assert wait_until_ready(url).status_code == 200
    database = serve_env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        (worker_id,) = connection.execute("SELECT worker_id FROM core_workerheartbeat").fetchone()
    os.kill(int(worker_id.rsplit(":", 1)[1]), signal.SIGKILL)

    rest, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "The worker 1 process exited with code -9; stopping everything." in rest
    assert not answers(f"{url}/healthz")


def test_serve_over_plain_http_binds_to_this_machine_only(serve_env):
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--bind", "10.1.2.3:8000"],
        cwd=ROOT,
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "pass --https" in done.stderr


def test_serve_for_real_users_refuses_the_sandbox_and_its_printed_demo_logins(serve_env):
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--https", "--bind", "10.1.2.3:8443"],
        cwd=ROOT,
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "demo logins" in done.stderr and "KODEXA_BASE_URL" in done.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("[::1]", True),
        ("::1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("10.1.2.3", False),
        ("example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_the_local_secret_key_is_made_once_and_kept_private(tmp_path):
    path = tmp_path / "var" / "serve-secret-key"
    key = _local_secret_key(path)
    assert len(key) >= 50 and _local_secret_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600
