"""`manage.py run_console`: everything `make run` needs in one process tree; Ctrl-C stops all of it.

Starts the sandbox (unless KODEXA_BASE_URL points at a real deployment), seeds it and the cache, creates the demo
users, then runs the background worker and serves the console.
"""

import os
import signal
import subprocess
import sys
import time
from io import StringIO

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from slices_admin.accounts.management.commands.add_demo_users import DEMO_PASSWORD_SUFFIX
from slices_admin.accounts.roles import ROLES
from slices_admin.kodexa.client import get_client


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Start the sandbox (by default), seed it, and serve the console until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--seed", type=int, default=5000, help="Orchestrator slices to seed an empty sandbox with.")

    def handle(self, *args, host, port, seed, **options):
        self.children: list[tuple[str, subprocess.Popen]] = []
        for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (in the background)
            signal.signal(signum, _interrupt)
        try:
            if settings.KODEXA_SANDBOX:
                self.start_sandbox(seed)
            self.stdout.write("Syncing the cache from Kodexa…")
            try:
                call_command("sync_slices", stdout=self.stdout, stderr=self.stderr)
            except CommandError as exc:  # e.g. no list endpoint, or Kodexa briefly down: serve the cache anyway
                self.stderr.write(f"The cache was not synced ({exc}); the console starts with what it has.")
            if settings.KODEXA_SANDBOX:
                self.stdout.write("Creating the demo users…")
                call_command("add_demo_users", stdout=StringIO())
            self.start("worker", [sys.executable, "manage.py", "db_worker", "--interval", "0.5"])
            self.start("web", [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"])
            self.wait_until_up(f"http://{host}:{port}/healthz", "web server")
            self.banner(host, port)
            self.wait()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self.stop_all()

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env={**os.environ, **(env or {})})  # noqa: S603
        self.children.append((name, process))
        return process

    def start_sandbox(self, seed: int) -> None:
        settings.KODEXA_SANDBOX_DATA.parent.mkdir(parents=True, exist_ok=True)
        url = settings.KODEXA_BASE_URL
        self.stdout.write(f"Starting the Kodexa sandbox on {url} (data in {settings.KODEXA_SANDBOX_DATA})…")
        self.start(
            "sandbox",
            [
                sys.executable, "-m", "slices_admin.sandbox",
                "--host", "127.0.0.1",
                "--port", str(settings.KODEXA_SANDBOX_PORT),
                "--data", str(settings.KODEXA_SANDBOX_DATA),
                "--seed", str(seed),
            ],
            env={"KODEXA_API_KEY": settings.KODEXA_API_KEY},  # not in argv, where `ps` would show it
        )  # fmt: skip
        self.wait_until_up(f"{url}/_sandbox/health", "sandbox")

    def wait_until_up(self, url: str, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if self.children[-1][1].poll() is not None:
                raise CommandError(f"The {name} exited at start (is its port taken?).")
            time.sleep(0.2)
        raise CommandError(f"The {name} did not answer {url} within {timeout:g} s.")

    def banner(self, host: str, port: int) -> None:
        target = get_client().target
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Slices console: http://{host}:{port}/"))
        if settings.KODEXA_SANDBOX:
            self.stdout.write(f"Kodexa: the sandbox at {target}. Demo logins (user / password):")
            for role in ROLES:
                self.stdout.write(f"  {role:<9} {role}{DEMO_PASSWORD_SUFFIX}")
        else:
            self.stdout.write(f"Kodexa: {target}. Create users with `manage.py add_user NAME --role ROLE`.")
        self.stdout.write("Press Ctrl-C to stop everything.\n")

    def wait(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"The {name} process exited with code {process.returncode}.")
            time.sleep(0.5)

    def stop_all(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the shutdown short
            signal.signal(signum, signal.SIG_IGN)
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
