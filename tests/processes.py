"""Process fixtures loaded by conftest (`pytest_plugins`): the production stack (`manage.py serve`), a scripted HTTP
server for faults the sandbox does not make on demand, and a webhook receiver, each as its own process or thread."""

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.support import free_port

ROOT = Path(__file__).resolve().parent.parent


# --- `manage.py serve`, the production stack, as its own process tree ---------------------------------------------
@pytest.fixture
def serve_env(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'console.sqlite3'}",
        "DJANGO_SECRET_KEY": "serve-test-" + "k3y" * 20,
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "KODEXA_SANDBOX_DATA": str(tmp_path / "sandbox.sqlite3"),
        "KODEXA_SANDBOX_PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),  # not var/metrics, which a `make serve` may be using
    }
    for name in ("KODEXA_BASE_URL", "DJANGO_PRODUCTION", "DJANGO_HTTPS", "DJANGO_DEBUG"):
        env.pop(name, None)
    return env


@pytest.fixture
def serve(serve_env):
    """Start `manage.py serve` with one web worker and one background worker; returns (process, url, output)."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, str, str]:
        url = f"http://127.0.0.1:{free_port()}"
        command = [sys.executable, "manage.py", "serve", "--bind", url.removeprefix("http://"), "--seed", "300"]
        command += ["--workers", "1", "--web-workers", "1", "--threads", "2", *args]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=serve_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so a failing test can stop the whole tree
        )
        started.append(process)
        output, deadline = [], time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        return process, url, "".join(output)

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- a scripted HTTP server for faults the sandbox does not make on demand ------------------------------------------
@dataclass
class Scripted:
    """Answers requests from a script of (status, headers, body, delay) and records what it received."""

    url: str = ""
    script: list[tuple[int, dict, object, float]] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)

    def answer(self, status: int, body: object = None, *, headers: dict | None = None, delay: float = 0.0):
        self.script.append((status, headers or {}, body, delay))
        return self


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    state = Scripted()
    stop_event = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.received.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            status, headers, payload, delay = state.script.pop(0) if state.script else (500, {}, None, 0)
            if delay:
                stop_event.wait(delay)
            data = (
                payload if isinstance(payload, bytes) else json.dumps(payload).encode() if payload is not None else b""
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up waiting (a timeout under test)
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    stop_event.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def scripted_kodexa(scripted, settings) -> Scripted:
    """The console pointed at the scripted server instead of Kodexa, with short timeouts and no waits between
    retries."""
    settings.KODEXA_BASE_URL = scripted.url
    settings.KODEXA_READ_TIMEOUT = 0.5
    settings.KODEXA_MAX_RETRY_WAIT = 0
    return scripted


# --- a webhook receiver, as its own process --------------------------------------------------------------------------
@dataclass
class WebhookReceiver:
    """A `tests/webhook_receiver.py` process: the URL it listens on, and the requests it has recorded so far."""

    url: str
    log: Path
    process: subprocess.Popen

    def requests(self) -> list[dict]:
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines if line]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def webhook_receiver(tmp_path) -> Iterator:
    """Start receivers answering from a script of `{"status", "delay", "headers", "body"}` (then 200); each is
    killed after the test."""
    started: list[WebhookReceiver] = []

    def start(*answers: dict) -> WebhookReceiver:
        log = tmp_path / f"webhook-{len(started)}.jsonl"
        command = [sys.executable, str(ROOT / "tests" / "webhook_receiver.py"), str(log), json.dumps(list(answers))]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([process.stdout], [], [], 20)
        line = process.stdout.readline() if ready else ""
        receiver = WebhookReceiver(line.removeprefix("listening on ").strip(), log, process)
        started.append(receiver)
        assert line.startswith("listening on "), f"the webhook receiver did not start: {line!r}"
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
