"""`manage.py serve`: the production stack in one process tree — what `make serve` runs, and what load tests start.

Applies migrations, collects static files, then runs gunicorn (gunicorn.conf.py), N background workers and, when no
real Kodexa is configured, the sandbox with demo logins. Every child runs with the production settings
(DJANGO_PRODUCTION=1). Without `--https` the stack is for this machine: it binds only to loopback, speaks plain http
(DJANGO_HTTPS=0: no HTTPS redirect, HSTS or Secure-only cookies, which a browser would refuse over http) and, unless
DJANGO_SECRET_KEY is set, signs with a key kept in var/. All the children count into one metrics directory, emptied
first (see `metrics.multiprocess`). Ctrl-C or SIGTERM stops everything; a child that dies stops everything too,
naming it, with a non-zero exit.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from slices_admin.core.addresses import is_loopback
from slices_admin.core.processes import (
    ProcessTree,
    add_demo_users,
    metrics_environment,
    start_sandbox,
    sync_cache,
    write_banner,
)


class Command(BaseCommand):
    help = "Serve the console with production settings: gunicorn, background workers and (by default) the sandbox."

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind",
            default=os.environ.get("GUNICORN_BIND", "127.0.0.1:8000"),
            help="HOST:PORT for gunicorn (default: GUNICORN_BIND or 127.0.0.1:8000).",
        )
        parser.add_argument("--workers", type=int, default=2, help="`db_worker` processes (default: 2).")
        parser.add_argument(
            "--web-workers", type=int, help="gunicorn worker processes (default: WEB_CONCURRENCY or two per core)."
        )
        parser.add_argument("--threads", type=int, help="Threads per gunicorn worker (default: GUNICORN_THREADS or 4).")
        parser.add_argument(
            "--https",
            action="store_true",
            help="Clients reach the console over HTTPS (a TLS-terminating proxy in front): keep the HTTPS settings, "
            "require DJANGO_SECRET_KEY, and allow binding beyond loopback.",
        )
        parser.add_argument("--seed", type=int, default=5000, help="Orchestrator slices to seed an empty sandbox with.")

    def handle(self, *args, bind, workers, web_workers, threads, https, seed, **options):
        host, _, port = bind.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--bind takes HOST:PORT, not {bind!r}.")
        if not https and not is_loopback(host):
            raise CommandError(
                f"Over plain http the console binds to this machine only (127.0.0.1, ::1, localhost), not {host}. "
                "Behind a TLS-terminating proxy, pass --https."
            )
        if workers < 1:
            raise CommandError("--workers must be 1 or more: bulk edits need a background worker.")
        if https and settings.KODEXA_SANDBOX:
            raise CommandError(
                "--https serves real users, and the sandbox comes with demo logins whose passwords are printed: "
                "set KODEXA_BASE_URL and KODEXA_API_KEY for a real Kodexa deployment."
            )
        env = {**self.child_environment(https), **metrics_environment()}
        url = f"http://{bind}/"

        with ProcessTree() as tree:
            try:
                self.prepare(env)
                if settings.KODEXA_SANDBOX:
                    start_sandbox(tree, seed, self.stdout)
                    sync_cache(self.stdout, self.stderr)
                    add_demo_users(self.stdout)
                for number in range(1, workers + 1):
                    tree.start(f"worker {number}", [sys.executable, "manage.py", "db_worker", "--interval", "0.5"], env)
                gunicorn = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", bind]
                if web_workers:
                    gunicorn += ["--workers", str(web_workers)]
                if threads:
                    gunicorn += ["--threads", str(threads)]
                tree.start("web server (gunicorn)", gunicorn, env)
                tree.wait_until_up(f"{url}healthz", "web server")
                mode = "production settings" + ("" if https else ", plain http on this machine")
                write_banner(
                    self.stdout,
                    self.style,
                    url,
                    f"Running with {mode}; {workers} background worker(s). Readiness: {url}readyz",
                )
                tree.watch()
            except KeyboardInterrupt:
                self.stdout.write("\nStopping…")

    def child_environment(self, https: bool) -> dict[str, str]:
        env = {"DJANGO_PRODUCTION": "1", "DJANGO_HTTPS": "1" if https else "0"}
        if "DJANGO_SECRET_KEY" not in os.environ:
            if https:
                raise CommandError("--https serves real users: set DJANGO_SECRET_KEY (50+ random characters).")
            env["DJANGO_SECRET_KEY"] = _local_secret_key(settings.BASE_DIR / "var" / "serve-secret-key")
        return env

    def prepare(self, env: dict[str, str]) -> None:
        """Migrations and static files, with the children's settings (collectstatic writes the hashed names)."""
        for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v0"]):
            self.stdout.write(f"Running manage.py {step[0]}…")
            done = subprocess.run(  # noqa: S603
                [sys.executable, "manage.py", *step], cwd=settings.BASE_DIR, env={**os.environ, **env}, check=False
            )
            if done.returncode:
                raise CommandError(f"manage.py {step[0]} failed with code {done.returncode}.")


def _local_secret_key(path: Path) -> str:
    """This checkout's own key for local serving, made once and readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        key = secrets.token_urlsafe(50)
        file.write(key)
    return key
