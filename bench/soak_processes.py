"""The settings of a soak and the processes it drives: the sandbox with its faults, the background workers it
kills and restarts, and the web server it asks for pages while the database is down."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ROOT, VAR
from slices_admin.sandbox.launcher import launch

WORK = VAR / "soak"
SANDBOX_DATA = WORK / "sandbox.sqlite3"
SQLITE_DATABASE = WORK / "console.sqlite3"
TARGET_STATUS = "PENDING"
SLICE_SEED = 20_261_124  # the sandbox seed of the slices: the same ids every run
FAULTS = {"errorRate": 0.2, "timeoutRate": 0.02, "timeoutSeconds": 2, "lostAnswerRate": 0.05}
STORM = {"rateLimitRate": 0.7, "retryAfter": 2}  # on top of FAULTS: 97% of requests fail during a storm
STORM_EVERY = (15.0, 25.0)  # seconds between storms
STORM_SECONDS = 3.0
WORKERS = ("A", "B")
KILLS_PER_WORKER = 2
KILL_AT = ((0.10, 0.20), (0.30, 0.40), (0.50, 0.60), (0.70, 0.80))  # each kill: a random share of items done
HOLDER_WAIT = 20.0  # seconds a due kill waits for a worker that holds a runner of the job
RESTART_PAUSE = (1.0, 3.0)
REPORT_EVERY = 10.0
WORKER_SETTINGS = {
    "KODEXA_READ_TIMEOUT": "1.5",  # a timeout costs 1.5 s, not the default 15
    "BULK_STALE_AFTER_SECONDS": "5",
    "BULK_HEARTBEAT_SECONDS": "1",
    "BULK_SWEEP_SECONDS": "1",
    "BULK_MAX_TRANSIENT_FAILURES": "20",  # 20% errors: no item should run out of tries
    "LOG_FORMAT": "plain",
}
FINAL = ("succeeded", "failed", "conflict", "skipped", "cancelled")
UNFINISHED = ("pending", "in_flight")


# --- the processes -------------------------------------------------------------------------------------------------
class Sandbox:
    """The sandbox as its own process on a fresh data file, and its control endpoints."""

    def __init__(self, records: list[dict]):
        import requests

        from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
        from slices_admin.sandbox.store import SliceStore

        for suffix in ("", "-wal", "-shm"):
            Path(f"{SANDBOX_DATA}{suffix}").unlink(missing_ok=True)
        store = SliceStore(SANDBOX_DATA)
        store.insert_many(ORCHESTRATOR_SLICE.path, records)
        store.close()
        self.running = launch(SANDBOX_DATA, log=WORK / "sandbox.log", start_new_session=True)
        self.url, self.api_key, self.process = self.running.url, self.running.api_key, self.running.process
        self.path = ORCHESTRATOR_SLICE.path
        self.session = requests.Session()
        self.session.headers["x-api-key"] = self.api_key

    def set_faults(self, **settings: Any) -> None:
        self.running.set_faults(**settings)

    def clear_faults(self) -> None:
        self.running.clear_faults()

    def stats(self) -> dict:
        return self.running.stats()

    def records(self) -> dict[str, dict]:
        """Every orchestrator slice as the sandbox holds it now (read with the faults off)."""
        found, page = {}, 1
        while True:
            answer = self.session.get(
                f"{self.url}/api/{self.path}", params={"page": page, "pageSize": 1000, "sort": "id,asc"}, timeout=60
            )
            answer.raise_for_status()
            document = answer.json()
            found.update((record["id"], record) for record in document["content"])
            if document["last"]:
                return found
            page += 1

    def stop(self) -> None:
        self.running.stop()


@dataclass
class Worker:
    """One `manage.py db_worker` slot: the process now running in it, and how often it was killed."""

    name: str
    environment: dict[str, str]
    process: subprocess.Popen | None = None
    started: int = 0
    kills: int = 0
    exits: list[int] = field(default_factory=list)  # exit codes of the times it stopped on its own
    restart_at: float | None = None

    @property
    def log_path(self) -> Path:
        return WORK / f"worker-{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.started += 1
        self.restart_at = None
        with self.log_path.open("a") as output:
            output.write(f"\n===== worker {self.name}, start {self.started}, {datetime.now(UTC).isoformat()} =====\n")
            output.flush()
            command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--no-reload"]
            command += ["--interval", "0.2", "-v1"]
            self.process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                command, cwd=ROOT, env=self.environment, stdout=output, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class WebServer:
    """gunicorn with the console, as `make serve` runs it (gunicorn.conf.py), on a free port: the pages and the API
    probed while the database is down. Its log is var/soak/web.log."""

    def __init__(self, environment: dict[str, str], port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = WORK / "web.log"
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "1", "--threads", "4"]
        env = {**environment, "PROMETHEUS_MULTIPROC_DIR": str(WORK / "metrics")}  # not the other servers' counts
        with self.log_path.open("w") as output:
            self.process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer {self.url}/healthz within {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
