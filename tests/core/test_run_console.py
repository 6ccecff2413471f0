"""`make run`'s process tree: sandbox, seeded cache, demo logins, web server, and one Ctrl-C stops it all."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from bench.support import free_port
from tests.conftest import ROOT
from tests.metrics.exposition import TOKEN


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


@pytest.fixture
def console_env(tmp_path):
    env = {
        **os.environ,
        "DJANGO_STATIC_ROOT": str(tmp_path / "staticfiles"),  # as on a fresh clone: never collected
        "DATABASE_URL": f"sqlite:///{tmp_path / 'console.sqlite3'}",
        "KODEXA_SANDBOX_DATA": str(tmp_path / "sandbox.sqlite3"),
        "KODEXA_SANDBOX_PORT": str(free_port()),
        "PORT": str(free_port()),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),  # not var/metrics, which a `make run` may be using
    }
    env.pop("KODEXA_BASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def test_run_console_serves_the_seeded_console_and_one_interrupt_stops_everything(console_env, tmp_path):
    web = f"http://127.0.0.1:{console_env['PORT']}"
    sandbox = f"http://127.0.0.1:{console_env['KODEXA_SANDBOX_PORT']}"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_console", "--seed", "300"],
        cwd=ROOT,
        env=console_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a failing test can stop the whole tree
    )
    try:
        output, deadline = [], time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        text = "".join(output)
        assert f"Slices console: {web}/" in text, text
        assert "Kodexa: the sandbox at" in text
        password = re.search(r"operator\s+(\S+)", text).group(1)

        session = requests.Session()
        session.get(f"{web}/login/", timeout=5)
        response = session.post(
            f"{web}/login/",
            {"username": "operator", "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{web}/login/"},
            timeout=5,
        )
        assert response.status_code == 200 and "at a glance" in response.text  # the dashboard
        listing = session.get(f"{web}/slices/orchestrator/", timeout=5)
        assert ">300</strong>" in listing.text
        assert answers(f"{sandbox}/_sandbox/health")
        # The web process and the worker count into one directory: the scrape shows the page and the worker's probe.
        metrics = requests.get(f"{web}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
        assert 'slices_console_http_requests_total{method="GET",status="200",view="slices:list"} 1.0' in metrics
        counting = {path.name for path in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(counting) == 2 and 'operation="ping"' in metrics, (counting, metrics)

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert not answers(f"{sandbox}/_sandbox/health")
        assert not answers(f"{web}/healthz")
        everything = text + process.stdout.read()
        assert "Warning" not in everything and "Traceback" not in everything, everything  # a clean start is quiet
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
