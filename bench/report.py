"""The benchmark's output: a table of every figure against its target, and what was measured on (the machine, the
commit). The figures go to `bench/results.json` through `support.write_section`."""

import os
import platform
import re
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote

import django

from .browsing import PAGE_SIZE, TARGET_P95_MS
from .export import FLAT_FACTOR
from .sync import lines as sync_lines


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1) if memory else None,
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def code_version(root: Path) -> dict:
    """The commit measured, and the files outside bench/ changed from it (work in progress measured too)."""

    def git(*args: str) -> str:
        command = ["git", *args]  # git from PATH, fixed arguments
        return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False).stdout  # noqa: S603

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_changes": changed}


_SELECT_LIST = re.compile(r"^SELECT (DISTINCT )?.*? FROM ")


def _short_sql(sql: str) -> str:
    """A query without its column list, which says nothing about its plan."""
    return _SELECT_LIST.sub(r"SELECT \1… FROM ", sql, count=1)


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def table(figures: dict) -> str:
    """Every figure, its target and PASS/MISS, as plain text."""
    listing, sync, export = figures["list_fragment"], figures["sync"], figures["csv_export"]
    lines = [
        f"List fragment vs Django admin changelist: {figures['dataset']['orchestrator_slices']:,} orchestrator "
        f"slices, {PAGE_SIZE} rows a page, {listing['timed_requests']} timed requests each (after "
        f"{listing['warmup_requests']} warm-up)",
        f"target: console p95 <= {TARGET_P95_MS:.0f} ms and console median below admin's",
        "",
        f"{'combination':<38}{'matching':>10}  {'console ms':^15}  {'admin ms':^17}  {'admin/console':^13}  result",
        f"{'':<38}{'rows':>10}  {'median':>7}{'p95':>8}  {'median':>8}{'p95':>9}  {'median':>6}{'p95':>7}",
    ]
    notes = []
    for row in listing["combinations"]:
        console, admin, ratio = row["console_ms"], row["admin_ms"], row["admin_over_console"]
        mark = ""
        if row["admin_note"]:
            notes.append(row["admin_note"])
            mark = f" [{len(notes)}]"
        lines.append(
            f"{row['name'] + mark:<38}{row['matching_rows']:>10,}  {console['median']:>7.1f}{console['p95']:>8.1f}  "
            f"{admin['median']:>8.1f}{admin['p95']:>9.1f}  {ratio['median']:>5.1f}x{ratio['p95']:>6.1f}x  "
            f"{_verdict(row['pass'])}"
        )
    lines += ["", "Admin equivalents:"] + [f"  [{n}] {note}" for n, note in enumerate(notes, 1)]
    for row in listing["combinations"]:
        for query in row["slow_queries"]:
            lines += ["", f"MISS {row['name']}: {query['ms']} ms  {_short_sql(query['sql'])}"]
            lines += [f"    plan: {step}" for step in query["plan"]]
    lines += ["", *sync_lines(sync)]
    lines += [
        "",
        "CSV export (streamed through the view, iterator consumed; peak = tracemalloc peak during the export)",
    ]
    for label in ("filtered", "all"):
        run = export[label]
        query = run["query"] or "no filter"
        lines.append(
            f"  {label:<9}{query:<22}{run['rows']:>10,} rows  {run['bytes'] / 1024**2:>8.1f} MiB CSV  "
            f"peak {run['peak_traced_mib']:>6.2f} MiB  {run['rows_per_second']:>8,} rows/s"
        )
    lines.append(
        f"  peak all / peak filtered = {export['peak_ratio_all_over_filtered']:.2f}   "
        f"target <= {FLAT_FACTOR:.0f} (flat)   {_verdict(export['pass'])}"
    )
    return "\n".join(lines)


def audit_table(figures: dict) -> str:
    """The audit section's figures, their targets and PASS/MISS, as plain text."""
    pages, exports = figures["pages"], figures["exports"]
    lines = [
        f"Audit log: {figures['dataset']['audit_entries']:,} entries, entries fragment of {pages['page_size']} a "
        f"page, {pages['timed_requests']} timed requests each (after {pages['warmup_requests']} warm-up); a viewer's "
        "queries leave security events out",
        f"target: every page p95 <= {pages['target_p95_ms']:.0f} ms",
        "",
        f"{'role':<8}{'filter':<40}{'matching':>10}  {'page':<7}{'median ms':>10}{'p95 ms':>9}  result",
    ]
    for row in pages["filters"]:
        for number, page in enumerate(row["pages"]):
            role, name, matching = (
                (row["role"], row["name"], f"{row['matching_entries']:,}") if not number else [""] * 3
            )
            lines.append(
                f"{role:<8}{name:<40}{matching:>10}  {page['page']:<7}{page['ms']['median']:>10.1f}"
                f"{page['ms']['p95']:>9.1f}  {_verdict(page['pass'])}"
            )
    for row in pages["filters"]:
        for page in row["pages"]:
            for query in page["slow_queries"]:
                where = f"{row['role']}, {row['name']}, {page['page']} page"
                lines += ["", f"MISS {where}: {query['ms']} ms  {_short_sql(query['sql'])}"]
                lines += [f"    plan: {step}" for step in query["plan"]]
    lines += ["", "Audit export as an admin (streamed through the view, iterator consumed; peak = tracemalloc peak)"]
    for name, export in exports.items():
        for label in ("filtered", "all"):
            run = export[label]
            lines.append(
                f"  {name:<6}{label:<9}{run['rows']:>10,} entries  {run['bytes'] / 1024**2:>8.1f} MiB  "
                f"peak {run['peak_traced_mib']:>6.2f} MiB  {run['rows_per_second']:>8,} entries/s"
            )
        lines.append(
            f"  {name:<6}peak all / peak filtered = {export['peak_ratio_all_over_filtered']:.2f}   "
            f"target <= {export['flat_factor_target']:.0f} (flat)   {_verdict(export['pass'])}"
        )
    filtered = next(iter(exports.values()))["filtered"]["query"]
    lines.append(f"  filtered: {unquote(filtered)}")
    return "\n".join(lines)


def bulk_table(figures: dict) -> str:
    """The bulk section's figures, the target and PASS/MISS, as plain text."""
    limit = figures["limit_seconds"]
    lines = [
        f"Bulk status edit: {figures['items']:,} slices, the sandbox at {figures['latency_ms']} ms latency, "
        f"concurrency {figures['concurrency']}",
        f"limit {figures['items']:,} x {figures['latency_ms'] / 1000:g} s / {figures['concurrency']} = {limit:.2f} s; "
        f"target: within {figures['target_ratio']}x of it",
        "",
        f"{'run':<44}{'seconds':>9}{'requests':>10}{'x limit':>9}  outcome",
    ]
    postgres, fleet = figures.get("postgres"), figures.get("fleet")
    runs = [
        ("concurrent (the default: PUT with the selected version)", figures["concurrent"], limit),
        ("concurrent, reading each slice first", figures["read_before_write"], limit),
        ("one by one", figures["one_by_one"], limit),
    ]
    if postgres:
        runs += [
            ("PostgreSQL: concurrent", postgres["concurrent"], limit),
            ("PostgreSQL: concurrent, reading each first", postgres["read_before_write"], limit),
        ]
    if fleet:
        runs.append(
            (
                f"fleet: {fleet['items']:,} @ {fleet['concurrency']}, {fleet['workers']} workers, PostgreSQL",
                fleet,
                fleet["limit_seconds"],
            )
        )
    for name, run, bound in runs:
        states = ", ".join(f"{count:,} {state}" for state, count in sorted(run["states"].items()))
        lines.append(f"{name:<44}{run['seconds']:>9.2f}{run['requests']:>10,}{run['seconds'] / bound:>9.2f}  {states}")
    lines += [
        "",
        f"concurrent / limit = {figures['ratio_to_limit']:.2f}  (target <= {figures['target_ratio']})  "
        f"{_verdict(figures['pass'])}",
    ]
    if postgres:
        lines.append(
            f"PostgreSQL concurrent / limit = {postgres['ratio_to_limit']:.2f}  "
            f"(target <= {postgres['target_ratio']})  {_verdict(postgres['pass'])}"
        )
    if fleet:
        lines.append(
            f"fleet / its limit {fleet['limit_seconds']:.2f} s = {fleet['ratio_to_limit']:.2f}  (target <= "
            f"{fleet['target_ratio']}); audit: {fleet['audit_entries']:,} entries, chain verified: "
            f"{fleet['audit_verified']}; workers' CPU {sum(fleet['workers_cpu_seconds']):.1f} s  "
            f"{_verdict(fleet['pass'])}"
        )
    lines.append(f"one by one / concurrent = {figures['speedup_over_one_by_one']:.1f}x faster concurrently")
    return "\n".join(lines)
