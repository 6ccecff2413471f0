"""`manage.py run_console`: everything `make run` needs in one process tree; Ctrl-C stops all of it.

Starts the sandbox (unless KODEXA_BASE_URL points at a real deployment), seeds it and the cache, creates the demo
users, then runs the background worker and serves the console.
"""

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from slices_admin.core.processes import (
    ProcessTree,
    add_demo_users,
    metrics_environment,
    start_sandbox,
    sync_cache,
    write_banner,
)


class Command(BaseCommand):
    help = "Start the sandbox (by default), seed it, and serve the console until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--seed", type=int, default=5000, help="Orchestrator slices to seed an empty sandbox with.")

    def handle(self, *args, host, port, seed, **options):
        with ProcessTree(stop_timeout=10) as tree:
            try:
                if settings.KODEXA_SANDBOX:
                    start_sandbox(tree, seed, self.stdout)
                sync_cache(self.stdout, self.stderr)
                if settings.KODEXA_SANDBOX:
                    add_demo_users(self.stdout)
                env = metrics_environment()  # the worker's Kodexa calls are counted where the web process reads
                tree.start("worker", [sys.executable, "manage.py", "db_worker", "--interval", "0.5"], env)
                tree.start("web", [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"], env)
                tree.wait_until_up(f"http://{host}:{port}/healthz", "web server")
                write_banner(self.stdout, self.style, f"http://{host}:{port}/")
                tree.watch()
            except KeyboardInterrupt:
                self.stdout.write("\nStopping…")
