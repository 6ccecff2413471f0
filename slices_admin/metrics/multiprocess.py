"""The directory every process of one console writes its counts to (prometheus-client's multiprocess mode), so a
scrape answered by any gunicorn worker reports the requests of all of them and the Kodexa calls of the background
workers too.

prometheus-client picks its mode from the environment when first imported, so the directory must be in the
environment of each process before it starts: `manage.py serve` and `manage.py run_console` (`make serve`, `make
run`) prepare it once and hand it to all of their children; `gunicorn.conf.py` does the same when started on its own.
Standard library only: gunicorn.conf.py loads it before Django is set up.
"""

import os
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT = Path(__file__).resolve().parent.parent.parent / "var" / "metrics"


def prepare(directory: str | os.PathLike[str]) -> Path:
    """Make the directory and empty it of the files a previous run left (prometheus-client's `*.db`, one per kind of
    series and process; nothing else is touched): counts start again from zero with the new processes."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for leftover in path.glob("*.db"):
        leftover.unlink(missing_ok=True)
    return path
