"""What a soak checks at the end (every item ended once, nothing applied twice, every attempt audited) and its
report."""

import os
import subprocess
import sys
from collections import Counter

from bench import ROOT
from bench.soak_processes import FINAL, STORM, STORM_EVERY, STORM_SECONDS, TARGET_STATUS, UNFINISHED, WORKERS, Sandbox


# --- the checks ----------------------------------------------------------------------------------------------------
def check_result(name: str, passed: bool, detail: str) -> dict:
    return {"name": name, "pass": passed, "detail": detail}


def _sample(ids: list[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check(job_id: int, total: int, start: dict[str, dict], sandbox: Sandbox, database_url: str) -> dict:
    """Read back the ledger, the audit log and the sandbox, and check them against each other."""
    from django.db.models import Count

    from slices_admin.audit.models import AuditEntry
    from slices_admin.bulk.models import BulkEditItem, BulkEditJob

    job = BulkEditJob.objects.get(pk=job_id)
    items = list(
        BulkEditItem.objects.filter(job_id=job_id).values(
            "slice_id", "state", "attempts", "result_change_sequence", "message", "transient_failures"
        )
    )
    counts = Counter(item["state"] for item in items)
    final = sum(counts[state] for state in FINAL)
    checks = [
        check_result(
            "every item in exactly one final state",
            len(items) == total == final and job.state == BulkEditJob.State.FINISHED,
            f"{final:,} of {len(items):,} items final (of {total:,} asked), "
            + ", ".join(f"{state} {counts[state]:,}" for state in (*FINAL, *UNFINISHED))
            + f"; job {job.state}",
        )
    ]

    # The sandbox: putCounts counts the PUTs it accepted (one refused by the changeSequence lock is not counted).
    stats = sandbox.stats()
    put_counts: dict[str, int] = stats["putCounts"]
    twice = sorted(slice_id for slice_id, n in put_counts.items() if n > 1)
    checks.append(
        check_result(
            "no slice applied more than once (sandbox putCounts)",
            not twice,
            f"{sum(1 for n in put_counts.values() if n == 1):,} slices applied once, {len(twice)} more than once"
            + (f": {_sample(twice)}" if twice else ""),
        )
    )
    now = sandbox.records()
    by_slice = {item["slice_id"]: item for item in items}
    wrong = []
    for slice_id, before in start.items():
        after = now.get(slice_id)
        item = by_slice.get(slice_id)
        applied = item is not None and item["state"] == "succeeded"
        expected = before["changeSequence"] + (1 if applied else 0)
        if after is None:
            wrong.append(f"{slice_id} (gone from the sandbox)")
        elif after["changeSequence"] != expected or put_counts.get(slice_id, 0) != (1 if applied else 0):
            state = item["state"] if item else "not in the job"
            wrong.append(
                f"{slice_id} ({state}: changeSequence {before['changeSequence']} -> {after['changeSequence']}, "
                f"{put_counts.get(slice_id, 0)} PUTs applied)"
            )
        elif applied and (after["status"] != TARGET_STATUS or item["result_change_sequence"] != expected):
            wrong.append(
                f"{slice_id} (succeeded, but status {after['status']}, recorded result changeSequence "
                f"{item['result_change_sequence']} for {after['changeSequence']})"
            )
    checks.append(
        check_result(
            "changeSequence +1 for succeeded items, +0 for the rest",
            not wrong,
            f"{len(start) - len(wrong):,} of {len(start):,} sandbox slices as expected ({len(items):,} in the job)"
            + (f"; wrong: {_sample(wrong)}" if wrong else ""),
        )
    )

    entries = AuditEntry.objects.filter(bulk_job_id=job_id)
    per_slice = dict(
        entries.filter(action=AuditEntry.Action.UPDATE).order_by().values_list("remote_id").annotate(n=Count("id"))
    )
    mismatched = [
        f"{item['slice_id']} ({per_slice.get(item['slice_id'], 0)} entries, {item['attempts']} attempts)"
        for item in items
        if per_slice.get(item["slice_id"], 0) != item["attempts"]
    ]
    strays = sorted(set(per_slice) - set(by_slice))
    attempts = sum(item["attempts"] for item in items)
    checks.append(
        check_result(
            "one audit entry per attempt",
            not mismatched and not strays,
            f"{sum(per_slice.values()):,} update entries for {attempts:,} attempts; {len(mismatched)} items differ"
            + (f": {_sample(mismatched)}" if mismatched else "")
            + (f"; entries for slices not in the job: {_sample(strays)}" if strays else ""),
        )
    )
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    verify_output = (verified.stdout + verified.stderr).strip()
    first_line = verify_output.splitlines()[0] if verify_output else "(no output)"
    checks.append(check_result("manage.py verify_audit passes", verified.returncode == 0, first_line))

    statuses = entries.filter(action=AuditEntry.Action.UPDATE).order_by().values_list("response_status")
    answers = {str(status) if status is not None else "none": n for status, n in statuses.annotate(n=Count("id"))}
    return {
        "checks": checks,
        "verify_audit_output": verify_output,
        "job": job,
        "items_by_state": {state: counts[state] for state in (*FINAL, *UNFINISHED)},
        "attempts": attempts,
        "retries": sum(max(item["attempts"] - 1, 0) for item in items),
        "max_attempts": max((item["attempts"] for item in items), default=0),
        "max_transient_failures": max((item["transient_failures"] for item in items), default=0),
        "audit_entries": entries.count(),
        "answers": dict(sorted(answers.items())),
        "found_applied_later": sum("its answer had been lost" in item["message"] for item in items),
        "refused_but_applied": sum("already holds this change" in item["message"] for item in items),
        "sandbox": {
            "requests": stats["requests"],
            "slices_applied_once": sum(1 for n in put_counts.values() if n == 1),
            "slices_applied_more_than_once": len(twice),
            "max_put_count": max(put_counts.values(), default=0),
        },
    }


# --- the report ----------------------------------------------------------------------------------------------------
def table(figures: dict, more: list[str] | tuple[str, ...] = ()) -> str:
    """The printed report; `more` lines (the database faults) go before the checks."""
    run, faults, outcome = figures["run"], figures["faults"], figures["outcome"]
    answers = ", ".join(f"{status} x{n:,}" for status, n in outcome["answers"].items())
    states = ", ".join(f"{state} {n:,}" for state, n in outcome["items_by_state"].items())
    sandbox = outcome["sandbox"]
    lines = [
        f"Soak: {run['items']:,} slices -> {TARGET_STATUS} on {run['database']}, {len(WORKERS)} workers, "
        f"{run['runners_per_job']} runners per job, concurrency {run['concurrency']}, "
        f"sandbox latency {run['latency_ms']:g} ms, seed {run['seed']}",
        f"faults: {faults['errorRate']:.0%} 503, {faults['lostAnswerRate']:.0%} lost answers (applied, then 504), "
        f"{faults['timeoutRate']:.0%} timeouts ({faults['timeoutSeconds']:g} s; read timeout "
        f"{run['worker_settings']['KODEXA_READ_TIMEOUT']} s); a 429 storm every "
        f"{STORM_EVERY[0]:g}-{STORM_EVERY[1]:g} s for {STORM_SECONDS:g} s ({STORM['rateLimitRate']:.0%} more, "
        f"Retry-After {STORM['retryAfter']} s)",
        "",
        f"items by final state: {states}",
        f"attempts {outcome['attempts']:,} (retries {outcome['retries']:,}; most on one item "
        f"{outcome['max_attempts']}, most transient failures on one item {outcome['max_transient_failures']} of "
        f"{run['worker_settings']['BULK_MAX_TRANSIENT_FAILURES']}); failed items {outcome['items_by_state']['failed']}",
        f"answers to the attempts (audit): {answers}",
        f"lost answers found applied on the next check: {outcome['found_applied_later']:,}; "
        f"PUTs refused as stale whose change was already there: {outcome['refused_but_applied']:,}",
        f"pauses (429): {figures['pauses']} ({figures['storms']} storms, "
        f"{outcome['answers'].get('429', 0):,} 429 answers)",
        f"kills: {len(figures['kills'])} ("
        + ", ".join(f"{kill['worker']} at {kill['done']:,} done" for kill in figures["kills"])
        + f"); job resumed {figures['resumed_count']} times; workers exiting on their own: "
        f"{len(figures['unexpected_exits'])}",
        f"sandbox: {sandbox['requests']:,} requests; {sandbox['slices_applied_once']:,} slices applied once, "
        f"{sandbox['slices_applied_more_than_once']} more than once (most PUTs applied to one slice: "
        f"{sandbox['max_put_count']})",
        f"audit entries of the job: {outcome['audit_entries']:,} (one per attempt, and the job's start)",
        f"wall time: {figures['wall_seconds']:.1f} s from the job's creation to its end",
        *more,
        "",
        "checks:",
        *(f"  {'PASS' if c['pass'] else 'FAIL'}  {c['name']}: {c['detail']}" for c in figures["checks"]),
        "",
        "manage.py verify_audit:",
        *(f"  {line}" for line in figures["verify_audit_output"].splitlines()),
        "",
        f"SOAK {'PASS' if figures['pass'] else 'FAIL'}",
    ]
    return "\n".join(lines)
