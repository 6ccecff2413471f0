"""The launcher: a sandbox it starts listens, answers its key and stops; one that does not come up is reported with
the reason and not left running."""

import re
import subprocess
from urllib.parse import urlsplit

import pytest
import requests

from slices_admin.sandbox import launcher
from slices_admin.sandbox.launcher import SandboxDidNotStart, launch


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/_sandbox/health", timeout=5).ok
    except requests.RequestException:
        return False


def test_a_launched_sandbox_listens_on_a_free_port_answers_its_key_and_stops(tmp_path):
    sandbox = launch(tmp_path / "sandbox.sqlite3")
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
        assert answers(sandbox.url)
        stats = requests.get(f"{sandbox.url}/_sandbox/stats", headers={"x-api-key": sandbox.api_key}, timeout=5)
        assert stats.status_code == 200
        assert sandbox.api_key not in " ".join(sandbox.process.args)  # in the environment, not on the command line
    finally:
        assert sandbox.stop() == 0
    assert not answers(sandbox.url)


def test_a_launched_sandbox_takes_faults_and_reports_its_stats(tmp_path):
    with launch(tmp_path / "sandbox.sqlite3", "--seed", "5", api_key="chosen-key") as sandbox:
        sandbox.set_faults(errorRate=1.0)
        failed = requests.get(
            f"{sandbox.url}/api/orchestrator-execution-slices", headers={"x-api-key": "chosen-key"}, timeout=5
        )
        assert failed.status_code >= 500
        sandbox.clear_faults()
        listed = requests.get(
            f"{sandbox.url}/api/orchestrator-execution-slices", headers={"x-api-key": "chosen-key"}, timeout=5
        )
        assert listed.status_code == 200
        assert sandbox.stats()["requests"] >= 2


def test_leaving_the_with_block_stops_the_sandbox(tmp_path):
    with launch(tmp_path / "sandbox.sqlite3", "--seed", "20", api_key="chosen-key") as sandbox:
        listed = requests.get(
            f"{sandbox.url}/api/orchestrator-execution-slices", headers={"x-api-key": "chosen-key"}, timeout=5
        )
        assert listed.json()["totalElements"] == 20
    assert sandbox.process.returncode == 0
    assert not answers(sandbox.url)


def test_a_sandbox_that_exits_at_start_raises_with_its_exit_code_and_stderr(tmp_path):
    with pytest.raises(SandboxDidNotStart, match="exited with code 1") as raised:
        launch(tmp_path / "sandbox.sqlite3", "--error-rate", "1.5", log=tmp_path / "sandbox.log")
    assert "errorRate" in str(raised.value)


def test_a_port_already_taken_is_reported(tmp_path):
    with launch(tmp_path / "first.sqlite3") as first:
        port = urlsplit(first.url).port
        with pytest.raises(SandboxDidNotStart, match="exited with code 1") as raised:
            launch(tmp_path / "second.sqlite3", port=port, log=tmp_path / "second.log")
        assert "Address already in use" in str(raised.value)
        assert answers(first.url)


def test_a_sandbox_silent_past_the_timeout_is_stopped_and_reported(tmp_path, monkeypatch):
    started, popen = [], subprocess.Popen

    def recorded(*args, **kwargs) -> subprocess.Popen:
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(launcher.subprocess, "Popen", recorded)
    with pytest.raises(SandboxDidNotStart, match=r"did not listen within 0\.5 s"):
        launch(tmp_path / "sandbox.sqlite3", "--seed", "1000000", timeout=0.5)  # seeding takes far longer
    assert started[0].poll() is not None
