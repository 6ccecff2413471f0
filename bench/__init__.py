"""`make bench`: the figures the console is held to (docs: DESIGN.md, "Numbers the console is held to").

`bench/run.py` seeds a large cache, measures the pages against those targets and writes `bench/results.json`.
The modules here are its sections; `setup_django` points Django at a benchmark database before anything loads.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
RESULTS = ROOT / "bench" / "results.json"  # every benchmark merges its section into it
LOG = VAR / "bench.log"  # the console's log lines while benchmarks run: the terminal shows progress and figures


def setup_django(database: Path | str) -> None:
    """Load Django on its own SQLite file, or the PostgreSQL database a URL names (settings read `DATABASE_URL` once,
    so this comes before any import), its log lines going to `LOG` (child processes inherit the setting)."""
    import django

    LOG.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(database, Path):
        database.parent.mkdir(parents=True, exist_ok=True)
        database = f"sqlite:///{database.resolve()}"
    os.environ["DATABASE_URL"] = database
    os.environ.setdefault("LOG_FILE", str(LOG))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slices_admin.settings")
    django.setup()
