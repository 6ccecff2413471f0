"""The process trees `manage.py run_console` and `manage.py serve` run: a small supervisor for named child processes,
the metrics directory they share, and the local Kodexa sandbox with its seeded cache and demo logins that both start
when no real Kodexa is configured.
"""

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from typing import NoReturn

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import Style

from slices_admin.accounts.management.commands.add_demo_users import DEMO_PASSWORD_SUFFIX
from slices_admin.accounts.roles import ROLES
from slices_admin.kodexa.client import get_client
from slices_admin.metrics import multiprocess
from slices_admin.sandbox.cli import LISTENING_ON
from slices_admin.sandbox.launcher import SandboxDidNotStart, launch


class ProcessTree:
    """Named child processes that live and die together.

    Used as a context manager: Ctrl-C and SIGTERM become KeyboardInterrupt (also when started in the background with
    SIGINT ignored), and leaving the block stops every child, waiting for each and killing the ones that linger.
    """

    def __init__(self, stop_timeout: float = 30):
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stop_timeout = stop_timeout
        self.interrupted_by: int | None = None

    def __enter__(self) -> "ProcessTree":
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._interrupt)
        return self

    def _interrupt(self, signum, frame):
        self.interrupted_by = signum
        raise KeyboardInterrupt

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env={**os.environ, **(env or {})})  # noqa: S603
        return self.adopt(name, process)

    def adopt(self, name: str, process: subprocess.Popen) -> subprocess.Popen:
        """Take on a child started elsewhere (the sandbox, by its launcher): it lives and dies with the others."""
        self.children.append((name, process))
        return process

    def exited(self) -> tuple[str, int] | None:
        """The first child that has exited, with its code."""
        for name, process in self.children:
            if process.poll() is not None:
                return name, process.returncode
        return None

    def wait_until_up(self, url: str, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if gone := self.exited():
                raise CommandError(f"The {gone[0]} process exited at start with code {gone[1]} (is its port taken?).")
            time.sleep(0.2)
        raise CommandError(f"The {name} did not answer {url} within {timeout:g} s.")

    def watch(self, interval: float = 0.5) -> NoReturn:
        """Block until a child exits; then say which one, so everything stops with a non-zero exit."""
        while True:
            if gone := self.exited():
                raise CommandError(f"The {gone[0]} process exited with code {gone[1]}; stopping everything.")
            time.sleep(interval)

    def stop_all(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the shutdown short
            signal.signal(signum, signal.SIG_IGN)
        if not self._children_saw_the_ctrl_c():
            for _name, process in reversed(self.children):
                if process.poll() is None:
                    process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _children_saw_the_ctrl_c(self) -> bool:
        """Ctrl-C in a terminal interrupts its whole foreground process group, children included: they are stopping
        already, and a second signal would cut their graceful stop short (a worker would abandon its task)."""
        if self.interrupted_by != signal.SIGINT:
            return False
        try:
            return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
        except (OSError, ValueError):  # no terminal
            return False


def metrics_environment() -> dict[str, str]:
    """PROMETHEUS_MULTIPROC_DIR for every child, web and workers alike, so /metrics reports them all: the configured
    directory, or var/metrics, emptied now, before any of them starts."""
    directory = multiprocess.prepare(settings.PROMETHEUS_MULTIPROC_DIR or multiprocess.DEFAULT)
    return {multiprocess.VARIABLE: str(directory)}


# --- the local sandbox and what a demo needs -----------------------------------------------------------------------
def start_sandbox(tree: ProcessTree, seed: int, stdout: OutputWrapper) -> None:
    """Start the sandbox on KODEXA_SANDBOX_PORT with its data file (seeded with `seed` orchestrator slices if new)."""
    stdout.write(f"Starting the Kodexa sandbox on {settings.KODEXA_BASE_URL} (data in {settings.KODEXA_SANDBOX_DATA})…")
    try:
        sandbox = launch(
            settings.KODEXA_SANDBOX_DATA,
            "--seed",
            str(seed),
            api_key=settings.KODEXA_API_KEY,
            port=settings.KODEXA_SANDBOX_PORT,
        )
    except SandboxDidNotStart as error:
        raise CommandError(f"{error} (Is port {settings.KODEXA_SANDBOX_PORT} taken?)") from error
    tree.adopt("sandbox", sandbox.process)
    stdout.write(f"{LISTENING_ON}{sandbox.url}")


def sync_cache(stdout: OutputWrapper, stderr: OutputWrapper) -> None:
    stdout.write("Syncing the cache from Kodexa…")
    try:
        call_command("sync_slices", stdout=stdout, stderr=stderr)
    except CommandError as exc:  # e.g. no list endpoint, or Kodexa briefly down: serve the cache anyway
        stderr.write(f"The cache was not synced ({exc}); the console starts with what it has.")


def add_demo_users(stdout: OutputWrapper) -> None:
    stdout.write("Creating the demo users…")
    call_command("add_demo_users", stdout=StringIO())


def write_banner(stdout: OutputWrapper, style: Style, url: str, *details: str) -> None:
    """Where the console is, which Kodexa it talks to, and the demo logins when that is the sandbox."""
    target = get_client().target
    stdout.write("")
    stdout.write(style.SUCCESS(f"Slices console: {url}"))
    for line in details:
        stdout.write(line)
    if settings.KODEXA_SANDBOX:
        stdout.write(f"Kodexa: the sandbox at {target}. Demo logins (user / password):")
        for role in ROLES:
            stdout.write(f"  {role:<9} {role}{DEMO_PASSWORD_SUFFIX}")
    else:
        stdout.write(f"Kodexa: {target}. Create users with `manage.py add_user NAME --role ROLE`.")
    stdout.write("Press Ctrl-C to stop everything.\n")
