"""Locust headless in its own process for `make load`, and the figures it leaves in its CSV files."""

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import ROOT, VAR

# --- Locust --------------------------------------------------------------------------------------------------------
SIGN_IN_TIMEOUT = 300
_STATE_FILES = (
    "signin.json",
    "window.json",
    "bulk-job",
    "locust_stats.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
)

WORK = VAR / "load"  # Locust's CSV files, the server's log, the targets file


class Locust:
    """Locust headless in its own process; the window starts when its people have signed in (see the locustfile)."""

    def __init__(self, options: argparse.Namespace, url: str, targets_path: Path):
        for name in _STATE_FILES:
            (WORK / name).unlink(missing_ok=True)
        command = [
            str(Path(sys.executable).with_name("locust")),
            "-f", str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "-u", str(options.users),
            "-r", str(options.spawn_rate),
            "-t", f"{options.warmup + options.seconds + SIGN_IN_TIMEOUT}s",  # a bound: the locustfile ends the run
            "--host", url,
            "--csv", str(WORK / "locust"),
            "--only-summary",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        env = {
            **os.environ,
            "LOAD_TARGETS": str(targets_path),
            "LOAD_STATE_DIR": str(WORK),
            "LOAD_USERS": str(options.users),
            "LOAD_WINDOW_SECONDS": str(options.seconds),
            "LOAD_WARMUP_SECONDS": str(options.warmup),
        }
        self.command, self.warmup = command, options.warmup
        self.output = (WORK / "locust.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 (Locust from this virtualenv, fixed arguments)
            command, cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT
        )

    def wait_window(self) -> None:
        """Until everyone has signed in and the measured window has begun."""
        deadline = time.monotonic() + SIGN_IN_TIMEOUT + self.warmup
        while not (WORK / "window.json").exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"Locust exited with {self.process.returncode} before the window:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"The Locust users did not all sign in within {SIGN_IN_TIMEOUT} s.")
            time.sleep(0.1)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.output.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        self.output.flush()
        return "\n".join((WORK / "locust.log").read_text(errors="replace").splitlines()[-lines:])


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None  # "N/A" when nothing was measured


def _row(row: dict) -> dict:
    return {
        "name": row["Name"],
        "method": row["Type"],
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "requests_per_second": round(float(row["Requests/s"]), 2),
        "p50_ms": _number(row["50%"]),
        "p95_ms": _number(row["95%"]),
        "p99_ms": _number(row["99%"]),
        "max_ms": round(float(row["Max Response Time"]), 1),
        "mean_ms": round(float(row["Average Response Time"]), 1),
    }


def locust_figures() -> dict:
    """Locust's CSV statistics: the whole run and each page type, and the failures by cause."""
    with (WORK / "locust_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    overall = next(_row(row) for row in rows if row["Name"] == "Aggregated")
    pages = [_row(row) for row in rows if row["Name"] != "Aggregated" and int(row["Request Count"])]
    pages.sort(key=lambda page: -page["requests"])
    with (WORK / "locust_failures.csv").open() as failed:
        failures = [
            {
                "method": row["Method"],
                "name": row["Name"],
                "error": row["Error"],
                "occurrences": int(row["Occurrences"]),
            }
            for row in csv.DictReader(failed)
        ]
    with (WORK / "locust_exceptions.csv").open() as raised:  # a task that broke: an error too
        exceptions = [{"message": row["Message"], "count": int(row["Count"])} for row in csv.DictReader(raised)]
    return {"overall": overall, "pages": pages, "failures": failures, "exceptions": exceptions}
