"""The processes `make load` drives: `manage.py serve` (web, workers, sandbox) and the bulk edit it starts through
the JSON API while people browse."""

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

from bench import ROOT
from bench.load_locust import WORK
from bench.support import log

READY_TIMEOUT = 180


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


def set_latency(port: int, latency_ms: int) -> None:
    import requests
    from django.conf import settings

    answer = requests.put(
        f"http://127.0.0.1:{port}/_sandbox/faults",
        json={"latencyMs": latency_ms},
        headers={"x-api-key": settings.KODEXA_API_KEY},
        timeout=10,
    )
    answer.raise_for_status()


def job_summary(document: dict, began: float) -> dict:
    return {
        "state": document["state"],
        "done": document["done"],
        "total": document["total"],
        "counts": {state: n for state, n in document["counts"].items() if n},
        "seconds_since_start": round(time.perf_counter() - began, 1),
    }


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not (start and end):
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)
