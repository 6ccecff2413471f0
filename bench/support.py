"""What every benchmark needs once: one run at a time, progress lines, free ports, PostgreSQL databases, percentiles,
the check that a timed request answered the fragment it is meant to time, and writing a section of the results file
(no Django here: children that set up their own can use it)."""

import fcntl
import json
import math
import socket
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from bench import VAR


def log(message: str = "") -> None:
    """A progress line, shown at once (the console's own log lines go to `bench.LOG`)."""
    print(message, flush=True)


def one_at_a_time(lock_name: str = "bench.lock") -> IO[str]:
    """Hold a benchmark lock until the process ends: two runs at once share the CPU (and for `soak.lock`, the
    database) and spoil each other's figures. Keep the returned file open."""
    VAR.mkdir(exist_ok=True)
    lock = (VAR / lock_name).open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("Another benchmark is running: waiting for it to finish ...")
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# --- PostgreSQL ------------------------------------------------------------------------------------------------------
def database_url(server: str, name: str) -> str:
    """The URL of database `name` on the server `server` (a DATABASE_URL) names."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def ensure_database(server: str, name: str, *, fresh: bool = False) -> str:
    """Create database `name` on `server` if it is missing (dropped and created again if `fresh`); its URL."""
    import psycopg  # only PostgreSQL runs need the driver
    from psycopg import sql

    identifier = sql.Identifier(name)
    with psycopg.connect(server, autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"Creating the database {name} ...")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
    return database_url(server, name)


def postgres_version() -> str | None:
    """The server version of Django's default database, or None when it is not PostgreSQL."""
    from django.db import connection  # after the benchmark has pointed Django at its database

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


# --- figures ---------------------------------------------------------------------------------------------------------
def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest sample at least `share` of the samples are not above."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def percentiles(samples: list[float]) -> dict:
    """p50, p95, p99 and the maximum of response times in milliseconds, as the load report shows them."""
    return {
        "p50_ms": round(percentile(samples, 0.5), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "p99_ms": round(percentile(samples, 0.99), 1),
        "max_ms": max(samples),
    }


def check_fragment(client, url: str, marker: bytes) -> bytes:
    """Fail loudly unless `url`, asked as htmx asks, answers a fragment holding `marker` (not the whole page): timing
    anything else would time the wrong thing. The answer's body, for further checks."""
    body = client.get(url, HTTP_HX_REQUEST="true").content
    if b"<html" in body or marker not in body:
        raise RuntimeError(f"{url} did not answer the fragment holding {marker.decode()}")
    return body


def summary(samples: list[float]) -> dict:
    """Median, p95, minimum and maximum of timed requests in milliseconds, as `make bench` reports them."""
    return {
        "median": round(statistics.median(samples), 2),
        "p95": round(percentile(samples, 0.95), 2),
        "min": round(min(samples), 2),
        "max": round(max(samples), 2),
    }


def write_section(path: Path, section: str, figures: dict, *, keep: tuple[str, ...] = ()) -> None:
    """Replace one section of the results file (`{"browsing": {...}, ...}`, one per benchmark), keeping the others
    (and the section's own `keep` keys, measured by another benchmark)."""
    results = json.loads(path.read_text()) if path.exists() else {}
    kept = {key: value for key, value in results.get(section, {}).items() if key in keep}
    _write(path, {**results, section: {**figures, **kept}})


def update_section(path: Path, section: str, figures: dict) -> None:
    """Set some keys of one section of the results file, keeping everything else."""
    results = json.loads(path.read_text()) if path.exists() else {}
    _write(path, {**results, section: {**results.get(section, {}), **figures}})


def _write(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
