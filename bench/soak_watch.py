"""Watching a soak's job: progress lines, storms of 429s, killing the workers at random points while they hold the
job's items, and (given one) the database crash at its point."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.soak_processes import (
    FINAL,
    HOLDER_WAIT,
    KILL_AT,
    KILLS_PER_WORKER,
    REPORT_EVERY,
    RESTART_PAUSE,
    STORM,
    STORM_EVERY,
    STORM_SECONDS,
    UNFINISHED,
    Sandbox,
    Worker,
)
from bench.support import log


# --- watching the job ----------------------------------------------------------------------------------------------
def _counts(job_id: int) -> dict[str, int]:
    from django.db.models import Count

    from slices_admin.bulk.models import BulkEditItem

    counts = dict.fromkeys((*UNFINISHED, *FINAL), 0)
    rows = BulkEditItem.objects.filter(job_id=job_id).order_by().values_list("state").annotate(n=Count("id"))
    counts.update(rows)
    return counts


def _runners(job_id: int) -> dict[int, str]:
    """The job's live runners by the pid of the worker running each."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from slices_admin.bulk.models import BulkEditRunner

    fresh = timezone.now() - timedelta(seconds=settings.BULK_STALE_AFTER_SECONDS)
    found = {}
    for runner_id in BulkEditRunner.objects.filter(job_id=job_id, heartbeat_at__gte=fresh).values_list(
        "runner_id", flat=True
    ):
        try:
            found[int(runner_id.rsplit(":", 2)[1])] = runner_id
        except (IndexError, ValueError):
            continue
    return found


def _progress_line(counts: dict[str, int], total: int, elapsed: float) -> str:
    done = sum(counts[state] for state in FINAL)
    states = ", ".join(f"{state} {counts[state]:,}" for state in (*FINAL, *UNFINISHED) if counts[state])
    return f"{done:,} of {total:,} done ({100 * done / total:.1f}%; {states}), {elapsed:.1f} s in"


@dataclass
class Watch:
    """What happened while the job ran."""

    kills: list[dict] = field(default_factory=list)
    storms: int = 0
    pauses: int = 0  # times the job was seen going from working to paused
    unexpected_exits: list[dict] = field(default_factory=list)
    outages: list[dict] = field(default_factory=list)  # the database crashes, as `soak_database.outage` reports them
    database_errors: int = 0  # times the watch's own reads met the database down


@dataclass
class DatabaseCrash:
    """When the job has `at` of its items done, `crash(counts)` takes the database down and brings it back."""

    at: float
    crash: Callable[[dict[str, int]], dict]


def _choose_victim(workers: list[Worker], holders: dict[int, str], waited: float, rng: random.Random):
    """A worker still to be killed, preferably one working the job now; any of them after HOLDER_WAIT."""
    candidates = [w for w in workers if w.kills < KILLS_PER_WORKER and w.running and w.restart_at is None]
    working = [w for w in candidates if w.pid in holders]
    if working:
        return rng.choice(working)
    if candidates and waited >= HOLDER_WAIT:
        return rng.choice(candidates)
    return None


def _kill(victim: Worker, job_id: int, holders: dict[int, str], total: int, elapsed: float, rng, number: int) -> dict:
    from slices_admin.bulk.models import BulkEditItem

    runner_id = holders.get(victim.pid, "")
    held = BulkEditItem.objects.filter(job_id=job_id, runner_id=runner_id, state__in=UNFINISHED) if runner_id else None
    items_held = held.count() if held is not None else 0
    in_flight = held.filter(state="in_flight").count() if held is not None else 0
    counts = _counts(job_id)
    pid = victim.pid
    victim.kill()
    pause = rng.uniform(*RESTART_PAUSE)
    victim.restart_at = time.monotonic() + pause
    work = f"runner {runner_id}, holding {items_held} items, {in_flight} in flight" if runner_id else "no runner"
    log(
        f"  KILL {number}/{len(KILL_AT)}: worker {victim.name} (pid {pid}; {work}) at "
        f"{_progress_line(counts, total, elapsed)}; restarting in {pause:.1f} s"
    )
    return {
        "number": number,
        "worker": victim.name,
        "pid": pid,
        "seconds": round(elapsed, 1),
        "done": sum(counts[state] for state in FINAL),
        "counts": {state: n for state, n in counts.items() if n},
        "held_a_runner": bool(runner_id),
        "items_held": items_held,
        "in_flight": in_flight,
        "restart_after_seconds": round(pause, 1),
    }


def _restart_workers(workers: list[Worker], seen: Watch, now: float, elapsed: float) -> None:
    """Start again a worker whose pause after a kill is over; note (and start again) one that stopped by itself."""
    for worker in workers:
        if worker.restart_at is None and not worker.running:  # it stopped without being killed
            code, last = worker.process.returncode, worker.tail(1)
            seen.unexpected_exits.append(
                {"worker": worker.name, "code": code, "seconds": round(elapsed, 1), "last_line": last}
            )
            log(f"  worker {worker.name} exited by itself with code {code} ({last}); starting it again")
            worker.restart_at = now + 1
        if worker.restart_at is not None and now >= worker.restart_at:
            worker.start()
            log(f"  worker {worker.name} started again (pid {worker.pid})")


def watch(
    job_id: int,
    total: int,
    workers: list[Worker],
    sandbox: Sandbox,
    options,
    rng: random.Random,
    database_crash: DatabaseCrash | None = None,
) -> Watch:
    """Follow the job to its end: storms on and off, the kills and restarts, the database crash, a progress line now
    and then. Raises TimeoutError if it does not end within `options.timeout`."""
    from django.db import InterfaceError, OperationalError, connections
    from django.utils import timezone

    from slices_admin.bulk.models import BulkEditJob

    seen = Watch()
    began = time.monotonic()
    kill_at = [rng.uniform(low, high) for low, high in KILL_AT]
    kill_due_since: float | None = None
    next_storm, storm_ends = began + rng.uniform(*STORM_EVERY), None
    next_report, was_paused = began + REPORT_EVERY, False
    try:
        while True:
            now = time.monotonic()
            elapsed = now - began
            if elapsed > options.timeout:
                raise TimeoutError(f"The job did not finish within {options.timeout:g} s.")
            _restart_workers(workers, seen, now, elapsed)
            try:
                job = BulkEditJob.objects.get(pk=job_id)
                counts = _counts(job_id)
            except (OperationalError, InterfaceError):  # the database restarting: look again shortly
                seen.database_errors += 1
                connections.close_all()
                time.sleep(0.5)
                continue
            done = sum(counts[state] for state in FINAL)
            crash_due = database_crash is not None and done >= database_crash.at * total and not job.finished
            if crash_due and not seen.outages:
                seen.outages.append(database_crash.crash(counts))
                continue
            if storm_ends is None and now >= next_storm:
                sandbox.set_faults(**STORM)
                seen.storms += 1
                storm_ends = now + STORM_SECONDS
                log(f"  429 storm {seen.storms} for {STORM_SECONDS:g} s at {elapsed:.1f} s")
            elif storm_ends is not None and now >= storm_ends:
                sandbox.set_faults(rateLimitRate=0)
                storm_ends, next_storm = None, now + rng.uniform(*STORM_EVERY)
            paused = job.paused_until is not None and job.paused_until > timezone.now()
            if paused and not was_paused:
                seen.pauses += 1
            was_paused = paused
            if len(seen.kills) < len(kill_at) and done >= kill_at[len(seen.kills)] * total and not job.finished:
                kill_due_since = kill_due_since or now
                holders = _runners(job_id)
                victim = _choose_victim(workers, holders, now - kill_due_since, rng)
                if victim is not None:
                    number = len(seen.kills) + 1
                    seen.kills.append(_kill(victim, job_id, holders, total, elapsed, rng, number))
                    kill_due_since = None
            if job.finished:
                log(f"  job {job.state}: {_progress_line(counts, total, elapsed)}")
                return seen
            if now >= next_report:
                runners = len(_runners(job_id))
                log(f"  {_progress_line(counts, total, elapsed)}; {runners} runners" + ("; paused" if paused else ""))
                next_report = now + REPORT_EVERY
            time.sleep(0.25)
    finally:
        if storm_ends is not None:
            sandbox.set_faults(rateLimitRate=0)


def diagnostics(job_id: int, workers: list[Worker], sandbox: Sandbox) -> None:
    """What a job that did not finish looks like: its row, items, runners, tasks and the workers' last words."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner

    job = BulkEditJob.objects.get(pk=job_id)
    log("\n=== diagnostics ===")
    log(
        f"job {job.pk}: state {job.state}, started {job.started_at}, runners queued {job.runners_queued_at} "
        f"(now {timezone.now()}), resumed {job.resumed_count}, paused until {job.paused_until}"
    )
    log(f"items: {_counts(job_id)}")
    for runner in BulkEditRunner.objects.filter(job_id=job_id):
        age = (timezone.now() - runner.heartbeat_at).total_seconds()
        log(f"runner {runner.runner_id}: heartbeat {age:.1f} s ago")
    for task in DBTaskResult.objects.order_by("enqueued_at"):
        log(
            f"task {task.id}: {task.status}, args {task.args_kwargs}, workers {task.worker_ids}, "
            f"started {task.started_at}, finished {task.finished_at}, returned {task.return_value!r}"
        )
    unfinished = BulkEditItem.objects.filter(job_id=job_id, state__in=UNFINISHED).order_by("pk")[:20]
    for item in unfinished:
        log(
            f"item {item.pk} ({item.slice_id}): {item.state}, runner {item.runner_id!r}, attempts {item.attempts}, "
            f"failures {item.transient_failures}, sent {item.sent_change_sequence}, message {item.message!r}"
        )
    with_sandbox = sandbox.process.poll() is None
    log(f"sandbox: {'running, ' + str(sandbox.stats()['requests']) + ' requests' if with_sandbox else 'stopped'}")
    for worker in workers:
        log(f"\n--- worker {worker.name} (pid {worker.pid}, running {worker.running}), last lines ---")
        log(worker.tail())
