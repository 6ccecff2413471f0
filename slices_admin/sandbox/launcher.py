"""Starting the sandbox as its own process and waiting until it listens: the one way tests, benchmarks and
`manage.py run_console`/`serve` run it. It only drives `python -m slices_admin.sandbox`; what that serves is `cli`'s.
"""

import json
import os
import secrets
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.request import Request, urlopen

from slices_admin.sandbox.cli import LISTENING_ON

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60  # seconds for the sandbox to seed its store (if asked) and start listening
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL
_LOG_TAIL = 2000  # characters of the sandbox's stderr quoted when it does not start


class SandboxDidNotStart(RuntimeError):
    """The sandbox process exited, said something else or stayed silent instead of announcing its address."""


@dataclass
class SandboxProcess:
    """A running sandbox: the URL it listens on, the API key it expects and its process."""

    url: str
    api_key: str
    process: subprocess.Popen[str]

    def control(self, method: str, what: str, body: object = None, timeout: float = 30) -> Any:
        """Call one of the sandbox's `/_sandbox/` control endpoints with its key; the JSON answer, if any. An error
        status raises `urllib.error.HTTPError`."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"x-api-key": self.api_key, "Content-Type": "application/json"}
        request = Request(f"{self.url}/_sandbox/{what}", data=data, headers=headers, method=method)  # noqa: S310 (http)
        with urlopen(request, timeout=timeout) as answer:  # noqa: S310 (the sandbox's own http:// address)
            text = answer.read()
        return json.loads(text) if text else None

    def set_faults(self, **faults: Any) -> None:
        """Switch faults on (see `faults.FaultSettingsJson`); settings not named keep their values."""
        self.control("PUT", "faults", faults)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        """Requests served and PUTs accepted since the sandbox started (when), and PUTs per slice (see `api.stats`)."""
        answer: dict[str, Any] = self.control("GET", "stats")
        return answer

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Stop the process (see `stop_process`); its exit code."""
        return stop_process(self.process, timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def sandbox_command(data: Path | str, *options: str, host: str = "127.0.0.1", port: int = 0) -> list[str]:
    """The command line that runs the sandbox on `data`; `options` come last, so they win over host and port."""
    command = [sys.executable, "-m", "slices_admin.sandbox", "--host", host, "--port", str(port)]
    return [*command, "--data", str(data), *options]


def launch(
    data: Path | str,
    *options: str,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log: Path | None = None,
    timeout: float | None = START_TIMEOUT,
    start_new_session: bool = False,
) -> SandboxProcess:
    """Start the sandbox on `data` with the command line `options` and return once it listens (port 0: a free one).

    The API key (a new random one unless given) goes through the environment, not the command line `ps` shows.
    Its stderr goes to `log` (written anew) or this process's stderr. `timeout` None waits as long as seeding takes.
    Raise SandboxDidNotStart, with the process stopped, if it does not come up.
    """
    api_key = f"sandbox-{secrets.token_hex(12)}" if api_key is None else api_key
    command = sandbox_command(data, *options, host=host, port=port)
    env = {**os.environ, "KODEXA_API_KEY": api_key}
    stderr = log.open("w") if log is not None else None
    try:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, the sandbox's own options)
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=start_new_session,
        )
    finally:
        if stderr is not None:
            stderr.close()  # the child has its own copy
    try:
        url = wait_until_listening(process, timeout, log=log)
    except BaseException:
        stop_process(process)
        raise
    return SandboxProcess(url, api_key, process)


def wait_until_listening(process: subprocess.Popen[str], timeout: float | None, *, log: Path | None = None) -> str:
    """The URL a starting sandbox announces on its stdout (a text pipe) once it serves.

    Raise SandboxDidNotStart if it exits or says something else first, or says nothing for `timeout` seconds;
    the end of `log`, its stderr, is quoted.
    """
    stdout = process.stdout
    if stdout is None:
        raise TypeError("the sandbox's stdout must be a pipe")
    ready, _, _ = select.select([stdout], [], [], timeout)
    line = stdout.readline() if ready else ""
    if line.startswith(LISTENING_ON):
        return line.removeprefix(LISTENING_ON).strip()
    if not ready:
        problem = f"it did not listen within {timeout:g} s"
    elif line:
        problem = f"it said {line.strip()!r}"
    else:
        try:
            problem = f"it exited with code {process.wait(timeout=STOP_TIMEOUT)}"
        except subprocess.TimeoutExpired:
            problem = "it closed its stdout"
    raise SandboxDidNotStart(f"The Kodexa sandbox did not start: {problem}.{_log_tail(log)}")


def _log_tail(log: Path | None) -> str:
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return ""
    return f"\nIts stderr ({log}):\n{text[-_LOG_TAIL:]}" if text else ""


def stop_process(process: subprocess.Popen[str], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM (the sandbox then closes its store cleanly), SIGKILL if still running after `timeout` seconds; the
    exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode
