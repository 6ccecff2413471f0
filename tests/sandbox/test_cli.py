"""The command line (`python -m slices_admin.sandbox` and `manage.py kodexa_sandbox`): seeding an empty store,
the settings the management command takes, and the fault flags, refused when invalid."""

import os
import subprocess
import sys
import time

from slices_admin.sandbox.launcher import SandboxProcess, sandbox_command, stop_process, wait_until_listening
from tests.conftest import ROOT
from tests.sandbox.conftest import API_KEY, EXECUTION, ORCHESTRATOR, START_TIMEOUT, Sandbox


def test_seed_flag_only_seeds_an_empty_store(start_sandbox, tmp_path):
    data = tmp_path / "seeded.sqlite3"
    first = start_sandbox("--seed", "40", data=data)
    assert first.get(ORCHESTRATOR).json()["totalElements"] == 40
    assert first.get(EXECUTION).json()["totalElements"] == 4
    first.stop()
    second = start_sandbox("--seed", "40", data=data)
    assert second.get(ORCHESTRATOR).json()["totalElements"] == 40


def test_management_command_uses_the_settings_key_and_data_file(tmp_path):
    env = {**os.environ, "KODEXA_API_KEY": API_KEY, "KODEXA_SANDBOX_DATA": str(tmp_path / "settings.sqlite3")}
    command = [sys.executable, "manage.py", "kodexa_sandbox", "--port", "0", "--skip-checks"]
    log = tmp_path / "command.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        sandbox = Sandbox(SandboxProcess(wait_until_listening(process, START_TIMEOUT, log=log), API_KEY, process))
        assert sandbox.post(EXECUTION, json={}).status_code == 201
        assert sandbox.stop() == 0
    finally:
        stop_process(process)  # already stopped, unless the test failed first
    assert (tmp_path / "settings.sqlite3").exists()


def test_error_rate_flag_answers_503_to_api_requests_only(start_sandbox):
    sandbox = start_sandbox("--error-rate", "1")
    response = sandbox.get(EXECUTION)
    assert (response.status_code, response.json()) == (503, {"message": "Service temporarily unavailable"})
    assert sandbox.get("/_sandbox/faults").json()["errorRate"] == 1


def test_rate_limit_flag_answers_429_with_retry_after(start_sandbox):
    sandbox = start_sandbox("--rate-limit-rate", "1", "--retry-after", "7")
    response = sandbox.post(EXECUTION, json={})
    assert (response.status_code, response.json()) == (429, {"message": "Too many requests"})
    assert response.headers["Retry-After"] == "7"
    sandbox.request("DELETE", "/_sandbox/faults")
    assert sandbox.get(EXECUTION).json()["totalElements"] == 0


def test_latency_flag_delays_every_answer(start_sandbox):
    sandbox = start_sandbox("--latency-ms", "300")
    started = time.perf_counter()
    assert sandbox.get(EXECUTION).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_timeout_flag_hangs_then_answers_504(start_sandbox):
    sandbox = start_sandbox("--timeout-rate", "1", "--timeout-seconds", "0.3")
    started = time.perf_counter()
    response = sandbox.get(EXECUTION)
    assert time.perf_counter() - started >= 0.3
    assert (response.status_code, response.json()) == (504, {"message": "Gateway timeout"})


def test_invalid_fault_flags_stop_the_process_with_a_message(tmp_path):
    result = subprocess.run(
        sandbox_command(tmp_path / "x.sqlite3", "--api-key", API_KEY, "--error-rate", "1.5"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "errorRate" in result.stderr
