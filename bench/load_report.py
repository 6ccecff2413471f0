"""What `make load` reports beside Locust's figures: where the CPU went, the console's own timing of each page type
(its access log), and the printed table."""

import json
import os
import re
from datetime import datetime
from pathlib import Path

from bench import ROOT
from bench.support import percentiles

# --- where the CPU went --------------------------------------------------------------------------------------------
_PARTS = (("gunicorn", "web (gunicorn)"), ("db_worker", "background workers"), ("slices_admin.sandbox", "sandbox"))

TARGET_P95_MS = 300.0
THINK_SECONDS = (1, 3)  # as bench/locustfile.py waits between pages


def cpu_by_part(stack_pid: int, locust_pid: int) -> dict[str, float]:
    """CPU seconds used so far, by part of the stack, and by the whole machine (busy time of all cores)."""
    import psutil

    parts: dict[str, float] = {}

    def add(part: str, process) -> None:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return
        # A child that has ended counts in its parent's children times (PostgreSQL's backends, recycled workers).
        used = times.user + times.system + times.children_user + times.children_system
        parts[part] = parts.get(part, 0.0) + used

    try:
        stack = psutil.Process(stack_pid)
        for process in [stack, *stack.children(recursive=True)]:
            command = " ".join(process.cmdline())
            part = next((name for marker, name in _PARTS if marker in command), "manage.py serve")
            add(part, process)
        add("locust", psutil.Process(locust_pid))
    except psutil.Error:
        pass
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres" or (process.info["name"] or "").startswith("postgres:"):
            add("postgresql (all databases)", process)
    machine = psutil.cpu_times()
    parts["machine (all processes)"] = machine.user + machine.system + getattr(machine, "nice", 0.0)
    return parts


def cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict:
    """Cores used on average during the window, by part; "everything else" is the machine's rest (other work)."""
    used = {part: max(0.0, after.get(part, 0.0) - before.get(part, 0.0)) / seconds for part in after}
    machine = used.pop("machine (all processes)")
    used["everything else on the machine"] = max(0.0, machine - sum(used.values()))
    return {"cores": os.cpu_count(), "busy_cores": round(machine, 2), **{k: round(v, 2) for k, v in used.items()}}


# --- the server's own view -----------------------------------------------------------------------------------------
_PAGE_TYPES = (  # path pattern → page type, first match wins (the access log has no query string)
    (re.compile(r"^/slices/$"), "dashboard"),
    (re.compile(r"^/slices/orchestrator/$"), "slice list"),
    (re.compile(r"^/slices/orchestrator/.+"), "slice detail"),
    (re.compile(r"^/audit/$"), "audit list"),
    (re.compile(r"^/audit/\d+/$"), "audit entry"),
    (re.compile(r"^/bulk/\d+/progress/$"), "bulk progress"),
    (re.compile(r"^/bulk/\d+/$"), "bulk job"),
    (re.compile(r"^/bulk/$"), "bulk list"),
)


def server_times(log_path: Path, started: float, ended: float) -> dict:
    """The console's own timing of the window's requests (its access log), by page type: time spent inside Django,
    without the waits before a worker thread picks a request up."""
    durations: dict[str, list[float]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if '"slices_admin.access"' not in line:
            continue
        try:
            entry = json.loads(line)
            when = datetime.fromisoformat(entry["time"]).timestamp()
        except (ValueError, KeyError):
            continue
        if started <= when <= ended:
            page = next((name for pattern, name in _PAGE_TYPES if pattern.match(entry["path"])), "other")
            durations.setdefault(page, []).append(float(entry["duration_ms"]))
    return {
        page: {"requests": len(values), **percentiles(values), "seconds": round(sum(values) / 1000, 1)}
        for page, values in sorted(durations.items(), key=lambda item: -sum(item[1]))
    }


# --- the report ----------------------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def table(figures: dict) -> str:
    run, overall, bulk, signin = figures["run"], figures["overall"], figures["bulk_edit"], figures["signin"]
    lines = [
        f"Load: {run['users']} users (a page every {THINK_SECONDS[0]}-{THINK_SECONDS[1]} s each) for "
        f"{run['window_seconds']:.0f} s after all signed in, against manage.py serve on PostgreSQL "
        f"({figures['dataset']['orchestrator_slices']:,} cached slices, {figures['dataset']['audit_entries']:,} audit "
        f"entries); load average {run['load_average_before'][0]:.1f} before, {run['load_average_after'][0]:.1f} after",
        f"target: no errors and p95 <= {TARGET_P95_MS:.0f} ms",
        "",
        f"{'page type':<28}{'requests':>9}{'errors':>8}{'req/s':>8}"
        + "".join(f"{heading:>8}" for heading in ("p50 ms", "p95 ms", "p99 ms", "max ms")),
    ]
    for page in [*figures["pages"], overall]:
        name = "all requests" if page is overall else page["name"]
        if page is overall:
            lines.append("-" * 85)
        lines.append(
            f"{name:<28}{page['requests']:>9,}{page['failures']:>8,}{page['requests_per_second']:>8.1f}"
            f"{_ms(page['p50_ms']):>8}{_ms(page['p95_ms']):>8}{_ms(page['p99_ms']):>8}{page['max_ms']:>8.0f}"
        )
    for failure in figures["failures"]:
        lines.append(f"  error x{failure['occurrences']}: {failure['method']} {failure['name']}: {failure['error']}")
    for exception in figures["exceptions"]:
        lines.append(f"  error x{exception['count']}: a task raised {exception['message']}")
    logins = signin["pages"].get("POST login", {"requests": 0, "p50_ms": None, "p95_ms": None, "max_ms": 0})
    lines += [
        "",
        f"Before the window: {logins['requests']} sign-ins in {signin['seconds']:.1f} s (POST /login/ p50 "
        f"{_ms(logins['p50_ms'])} ms, p95 {_ms(logins['p95_ms'])} ms, max {logins['max_ms']:.0f} ms); "
        f"{signin['all']['requests']} requests in all, {signin['all']['failures']} errors",
    ]
    for error in signin["errors"]:
        lines.append(f"  error x{error['occurrences']}: {error['name']}: {error['error']}")
    lines += ["", "Time inside the console by page type (its access log; no query strings, no queueing before it):"]
    for page, times in figures["server_times"].items():
        lines.append(
            f"  {page:<26}{times['requests']:>9,}{'':>16}{_ms(times['p50_ms']):>8}{_ms(times['p95_ms']):>8}"
            f"{_ms(times['p99_ms']):>8}{times['max_ms']:>8.0f}   {times['seconds']:>6.1f} s in all"
        )
    cpu = figures["cpu_during_window"]
    shares = ", ".join(f"{part} {cores:.2f}" for part, cores in cpu.items() if part not in ("cores", "busy_cores"))
    lines += ["", f"Cores busy during the window: {cpu['busy_cores']:.2f} of {cpu['cores']} ({shares})"]
    window, final = bulk["at_window_end"], bulk["final"]
    outcomes = ", ".join(f"{n:,} {state}" for state, n in sorted(final["counts"].items()))
    lines += [
        "",
        f"Bulk edit {bulk['job']}: {bulk['items']:,} slices -> CANCELLED, sandbox latency {bulk['latency_ms']} ms, "
        f"concurrency {bulk['concurrency']}, started with the window",
        f"  at the end of the window: {window['state']}, {window['done']:,} of {window['total']:,} done",
        f"  in the end: {final['state']}, {final['done']:,} of {final['total']:,} done ({outcomes})"
        + (f" in {bulk['seconds']:.1f} s" if bulk["seconds"] is not None else ""),
        "",
        f"requests/s {overall['requests_per_second']:.1f}   p50 {_ms(overall['p50_ms'])} ms   "
        f"p95 {_ms(overall['p95_ms'])} ms   p99 {_ms(overall['p99_ms'])} ms   errors {figures['errors']}   "
        f"{'PASS' if figures['pass'] else 'FAIL'}",
    ]
    return "\n".join(lines)


def shown(argument: str) -> str:
    """A command-line argument as the report shows it: paths relative to the repository."""
    if argument.startswith(str(ROOT)):
        return str(Path(argument).relative_to(ROOT))
    return Path(argument).name if argument.startswith("/") else argument


def database_mib() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return round(cursor.fetchone()[0] / 1024**2)
