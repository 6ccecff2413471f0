"""Bulk edit controls, measured against the sandbox at 100 ms latency and concurrency 16:

- "undo": a 1,000-slice status edit (timed as bench/bulk.py times it), then its undo, timed against the same limit
  1,000 x 0.1 s / 16 = 6.25 s; afterwards every slice must be back to its status and error message, with exactly two
  accepted PUTs (the sandbox's putCounts) and its changeSequence two further on. The undo is also given beside the
  edit just before it, which a busy machine slows as much.
- "rate": a 1,000-slice edit of other slices at a maximum rate of 20 requests/s, measured where it lands: the rate
  of the PUTs the sandbox accepted, (count - 1) / (last - first), against the 20/s asked.

Each run has a fresh sandbox and a fresh database: the edits run in a child process, `python -m bench.bulk_controls`,
which migrates its database, syncs the slices into its cache, runs the rate job first (the sandbox's acceptedPuts
then count its PUTs alone), then the edit and its undo, and prints its figures as one JSON line. `measure` runs this
`runs` times and reports each run and the medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench import ROOT, VAR, setup_django
from slices_admin.sandbox.launcher import launch

ITEMS = 1000
LATENCY_MS = 100
CONCURRENCY = 16
RUNS = 3
UNDO_TARGET_RATIO = 1.25  # of the limit, as the edit itself
MAX_RATE = 20.0  # requests/s
RATE_TARGET_DEVIATION = 0.05  # of MAX_RATE, either way
DATABASE = VAR / "bench-bulk-controls.sqlite3"
SANDBOX_DATA = VAR / "bench-bulk-controls-sandbox.sqlite3"


def limit_seconds(items: int) -> float:
    return items * LATENCY_MS / 1000 / CONCURRENCY


def _remove(database: Path) -> None:
    for path in (database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        path.unlink(missing_ok=True)


def measure_once(items: int, database: Path, sandbox_data: Path) -> dict:
    """One run: a fresh sandbox and database, the child's figures, the sandbox stopped."""
    _remove(database)
    _remove(sandbox_data)
    sandbox = launch(sandbox_data, "--seed", str(2 * items + 500), timeout=None)
    try:
        env = {
            **os.environ,
            "KODEXA_BASE_URL": sandbox.url,
            "KODEXA_API_KEY": sandbox.api_key,
            "KODEXA_SANDBOX": "1",
            "KODEXA_READ_TIMEOUT": "30",
        }
        command = [sys.executable, "-m", "bench.bulk_controls", "--items", str(items), "--database", str(database)]
        child = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if child.returncode:
            raise RuntimeError(f"The bulk controls benchmark failed:\n{child.stderr[-4000:]}")
    finally:
        sandbox.stop()
    figures: dict = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def measure(
    *,
    items: int = ITEMS,
    runs: int = RUNS,
    database: Path = DATABASE,
    sandbox_data: Path = SANDBOX_DATA,
    log: Callable[[str], None] = print,
) -> dict:
    """`runs` fresh runs; the "undo" and "rate" figures, each with every run and the medians."""
    measured = []
    for number in range(1, runs + 1):
        run = measure_once(items, database, sandbox_data)
        undo, rate = run["undo"], run["rate"]
        log(
            f"  run {number}/{runs}: undo {undo['seconds']:.2f} s ({undo['seconds'] / limit_seconds(items):.2f}x the "
            f"limit), rate {rate['measured_rate']:.3f}/s ({rate['deviation']:+.2%})"
        )
        measured.append(run)
    return {"undo": _undo_figures(items, [r["undo"] for r in measured]), "rate": _rate_figures(items, measured)}


def _undo_figures(items: int, runs: list[dict]) -> dict:
    limit = limit_seconds(items)
    median = statistics.median(run["seconds"] for run in runs)
    correct = all(run["correct"] for run in runs)
    return {
        "items": items,
        "latency_ms": LATENCY_MS,
        "concurrency": CONCURRENCY,
        "limit_seconds": limit,
        "target_ratio": UNDO_TARGET_RATIO,
        "runs": [
            {**run, "ratio_to_limit": round(run["seconds"] / limit, 3), "undo_over_edit": _over_edit(run)}
            for run in runs
        ],
        "median_seconds": round(median, 2),
        "median_ratio_to_limit": round(median / limit, 3),
        "median_edit_seconds": round(statistics.median(run["edit"]["seconds"] for run in runs), 2),
        # The undo beside the edit just before it, on the same machine and moment: what noise leaves alone.
        "median_undo_over_edit": round(statistics.median(_over_edit(run) for run in runs), 3),
        "all_correct": correct,
        "pass": correct and median / limit <= UNDO_TARGET_RATIO,
    }


def _over_edit(run: dict) -> float:
    return round(run["seconds"] / run["edit"]["seconds"], 3)


def _rate_figures(items: int, measured: list[dict]) -> dict:
    runs = [run["rate"] for run in measured]
    median = statistics.median(run["measured_rate"] for run in runs)
    deviation = median / MAX_RATE - 1
    correct = all(run["correct"] for run in runs)
    return {
        "items": items,
        "max_rate": MAX_RATE,
        "latency_ms": LATENCY_MS,
        "concurrency": CONCURRENCY,
        "target_deviation": RATE_TARGET_DEVIATION,
        "runs": runs,
        "median_rate": round(median, 3),
        "median_deviation": round(deviation, 4),
        "all_correct": correct,
        "pass": correct and abs(deviation) <= RATE_TARGET_DEVIATION,
    }


def table(undo: dict, rate: dict) -> str:
    """Both benchmarks' runs, medians, targets and PASS/MISS, as plain text."""
    limit = undo["limit_seconds"]
    lines = [
        f"Undo of a bulk status edit: {undo['items']:,} slices, the sandbox at {undo['latency_ms']} ms latency, "
        f"concurrency {undo['concurrency']}; limit {limit:.2f} s, target: the undo within {undo['target_ratio']}x",
        "",
        f"{'run':<5}{'load':>6}{'edit s':>8}{'undo s':>8}{'x limit':>9}{'/ edit':>8}{'requests':>10}  "
        "back / two PUTs each / outcome",
    ]
    for number, run in enumerate(undo["runs"], 1):
        states = ", ".join(f"{count:,} {state}" for state, count in sorted(run["states"].items()))
        lines.append(
            f"{number:<5}{run['load_average_1min']:>6.2f}{run['edit']['seconds']:>8.2f}{run['seconds']:>8.2f}"
            f"{run['ratio_to_limit']:>9.2f}{run['undo_over_edit']:>8.2f}{run['requests']:>10,}  "
            f"{run['restored']:,} / {run['put_twice']:,} / {states}"
        )
    lines += [
        f"median undo {undo['median_seconds']:.2f} s = {undo['median_ratio_to_limit']:.2f}x the limit "
        f"(target <= {undo['target_ratio']})   {'PASS' if undo['pass'] else 'MISS'}",
        f"median edit {undo['median_edit_seconds']:.2f} s; undo / edit {undo['median_undo_over_edit']:.2f}; "
        f"every slice back with two PUTs: {'yes' if undo['all_correct'] else 'NO'}  (load: the machine's 1-minute "
        "load average as the job began, 2 = both cores busy)",
        "",
        f"Maximum rate: {rate['items']:,} slices at max_rate {rate['max_rate']:g}/s (latency {rate['latency_ms']} ms, "
        f"concurrency {rate['concurrency']}), measured at the sandbox: (accepted PUTs - 1) / (last - first); "
        f"target within {rate['target_deviation']:.0%} of {rate['max_rate']:g}/s",
        "",
        f"{'run':<5}{'load':>6}{'accepted':>9}{'span s':>9}{'rate /s':>10}{'deviation':>11}{'job s':>8}  outcome",
    ]
    for number, run in enumerate(rate["runs"], 1):
        states = ", ".join(f"{count:,} {state}" for state, count in sorted(run["states"].items()))
        lines.append(
            f"{number:<5}{run['load_average_1min']:>6.2f}{run['accepted_puts']:>9,}{run['span_seconds']:>9.2f}"
            f"{run['measured_rate']:>10.3f}"
            f"{run['deviation']:>+11.2%}{run['seconds']:>8.2f}  {states}"
        )
    lines.append(
        f"median rate {rate['median_rate']:.3f}/s, {rate['median_deviation']:+.2%} from {rate['max_rate']:g}/s   "
        f"{'PASS' if rate['pass'] else 'MISS'}"
    )
    return "\n".join(lines)


# --- the child: the jobs themselves ----------------------------------------------------------------------------------
def _load() -> float:
    """The machine's 1-minute load average: the 2 cores are shared with whatever else runs (the sandbox and this
    process included), and a busy machine shows in the times."""
    return round(os.getloadavg()[0], 2)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_controls", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS, help="slices per job")
    parser.add_argument("--database", type=Path, default=DATABASE, help="SQLite file (migrated; should be new)")
    return parser.parse_args()


class _Sandbox:
    """The calls the child makes to the sandbox's control and list endpoints."""

    def __init__(self, base_url: str, api_key: str):
        import requests

        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers["x-api-key"] = api_key

    def control(self, method: str, what: str, body: object = None) -> dict:
        answer = self.http.request(method, f"{self.base_url}/_sandbox/{what}", json=body, timeout=30)
        answer.raise_for_status()
        result: dict = answer.json()
        return result

    def records(self) -> dict[str, tuple]:
        """Every orchestrator slice's (status, errorMessage, changeSequence), by id."""
        found, page = {}, 1
        while True:
            answer = self.http.get(
                f"{self.base_url}/api/orchestrator-execution-slices",
                params={"page": page, "pageSize": 1000, "sort": "createdOn,asc"},
                timeout=30,
            )
            answer.raise_for_status()
            body = answer.json()
            found |= {r["id"]: (r["status"], r.get("errorMessage"), r["changeSequence"]) for r in body["content"]}
            if body["last"] or not body["content"]:
                return found
            page += 1


def main() -> None:
    """Migrate, sync, then the rate job and the edit with its undo, on distinct slices; one JSON line of figures."""
    options = _arguments()
    items = options.items
    setup_django(options.database)
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Count

    from bench import indexes
    from slices_admin.audit.services import AuditContext
    from slices_admin.bulk.changes import Change
    from slices_admin.bulk.models import BulkEditJob
    from slices_admin.bulk.runner import run_job
    from slices_admin.bulk.services import Selection, create_job, request_undo
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
    from slices_admin.slices.models import OrchestratorSlice
    from slices_admin.slices.sync import sync_slices

    call_command("migrate", verbosity=0, interactive=False)
    indexes.check(log=lambda _message: None)  # refuses to measure on other indexes
    sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=1000)
    candidates = list(
        OrchestratorSlice.objects.exclude(status="CANCELLED").order_by("id").values_list("id", flat=True)[: 2 * items]
    )
    if len(candidates) < 2 * items:
        raise SystemExit(f"The sandbox holds only {len(candidates)} slices to change; {2 * items} are needed.")
    edited, rate_limited = candidates[:items], candidates[items:]

    sandbox = _Sandbox(settings.KODEXA_BASE_URL, settings.KODEXA_API_KEY)
    before = sandbox.records()
    if sandbox.control("GET", "stats")["acceptedPuts"]["count"]:
        raise SystemExit("The sandbox has accepted PUTs already: the rate is measured on a fresh one.")
    sandbox.control("PUT", "faults", {"latencyMs": LATENCY_MS})
    settings.BULK_CONCURRENCY = CONCURRENCY
    settings.BULK_READ_BEFORE_WRITE = False
    settings.BULK_CONFIRM_THRESHOLD = items * 10
    settings.BULK_APPROVAL_THRESHOLD = None
    context = AuditContext.system("bench")

    def timed(job: BulkEditJob) -> dict:
        sent = sandbox.control("GET", "stats")["requests"]
        began = time.perf_counter()
        run_job(job.pk)
        seconds = time.perf_counter() - began
        requests_sent = sandbox.control("GET", "stats")["requests"] - sent
        states = dict(job.items.order_by().values_list("state").annotate(n=Count("id")))
        return {"seconds": round(seconds, 2), "requests": requests_sent, "states": states}

    def edit(ids: list[str], max_rate: float | None) -> BulkEditJob:
        change = Change("CANCELLED", reason="benchmark")
        return create_job(Selection.from_ids(ids), change, context=context, confirmed_count=len(ids), max_rate=max_rate)

    # The rate job first: the sandbox's acceptedPuts are then its PUTs alone.
    rate_load = _load()
    rate_run = timed(edit(rate_limited, MAX_RATE))
    accepted = sandbox.control("GET", "stats")["acceptedPuts"]
    span = accepted["last"] - accepted["first"]
    measured_rate = (accepted["count"] - 1) / span
    rate = {
        "load_average_1min": rate_load,
        **rate_run,
        "accepted_puts": accepted["count"],
        "span_seconds": round(span, 3),
        "measured_rate": round(measured_rate, 3),
        "deviation": round(measured_rate / MAX_RATE - 1, 4),
        "correct": rate_run["states"] == {"succeeded": items} and accepted["count"] == items,
    }

    edit_load = _load()
    original = edit(edited, None)
    edit_run = timed(original)
    original.refresh_from_db()  # finished now
    began = time.perf_counter()
    undo = request_undo(original, reason="benchmark", context=context, confirmed_count=items, max_rate=None)
    request_seconds = time.perf_counter() - began
    undo_run = timed(undo)

    sandbox.control("DELETE", "faults")
    after = sandbox.records()
    put_counts = sandbox.control("GET", "stats")["putCounts"]
    restored = sum(after[i][:2] == before[i][:2] for i in edited)
    put_twice = sum(put_counts.get(i) == 2 and after[i][2] == before[i][2] + 2 for i in edited)
    undo_figures = {
        "load_average_1min": edit_load,
        **undo_run,
        "request_seconds": round(request_seconds, 2),
        "edit": edit_run,
        "restored": restored,
        "put_twice": put_twice,
        "put_counts": {str(n): k for n, k in sorted(Counter(put_counts.get(i, 0) for i in edited).items())},
        "correct": edit_run["states"] == {"succeeded": items}
        and undo_run["states"] == {"succeeded": items}
        and restored == put_twice == items,
    }
    print(json.dumps({"undo": undo_figures, "rate": rate}))


if __name__ == "__main__":
    main()
