"""Pause, rate and schedule with real `db_worker` processes: a job paused stays paused through a worker killed and a
new one started; a rate holds across two workers; a scheduled job starts after a restart. (On PostgreSQL too:
`make test-postgres` runs these against it.)"""

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.models import BulkEditJob
from tests.bulk.jobs import assert_applied_once, job_for, states
from tests.bulk.test_controls import job_for_at
from tests.support import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def puts(kodexa) -> int:
    return sum(kodexa.stats()["putCounts"].values())


QUICK_WORKER = {"BULK_SWEEP_SECONDS": "0.5", "BULK_HEARTBEAT_SECONDS": "0.3", "BULK_STALE_AFTER_SECONDS": "2"}


def test_a_job_paused_stays_paused_through_a_worker_killed_and_goes_on_when_resumed(
    kodexa, failed_slices, operator_user, start_worker
):
    records = failed_slices(40)
    job = job_for(records, operator_user)
    BulkEditJob.objects.filter(pk=job.pk).update(concurrency=2)
    kodexa.set_faults(latencyMs=100, methods=["PUT"])
    first = start_worker(**QUICK_WORKER)
    wait_for(lambda: job.items.filter(state="succeeded").count() >= 5)
    services.pause_job(job, context=AuditContext(actor=operator_user))
    wait_for(lambda: not job.runners.exists())  # its runner recorded what was in flight and left
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done, sent = job.items.filter(state="succeeded").count(), puts(kodexa)
    assert not job.items.filter(state="in_flight").exists() and done < 40

    start_worker(**QUICK_WORKER)
    time.sleep(3)  # six sweeps of the new worker: none may pick the paused job up
    job.refresh_from_db()
    assert job.state == "paused" and puts(kodexa) == sent  # (the worker's probe of Kodexa is a GET)
    assert job.items.filter(state="succeeded").count() == done

    services.resume_job(job, context=AuditContext(actor=operator_user))
    wait_for(lambda: BulkEditJob.objects.get(pk=job.pk).state == "finished", timeout=90)
    assert states(job) == {"succeeded": 40}
    assert_applied_once(kodexa, records)


def test_the_rate_holds_for_a_job_shared_by_two_workers(kodexa, failed_slices, operator_user, start_worker, settings):
    settings.BULK_RUNNERS_PER_JOB = 2  # two runner tasks for the job, one for each worker
    records = failed_slices(72)
    job = job_for(records, operator_user)
    BulkEditJob.objects.filter(pk=job.pk).update(concurrency=8, max_rate=12)
    kodexa.set_faults(latencyMs=20, methods=["PUT"])
    for _ in range(2):
        start_worker(**QUICK_WORKER, BULK_RUNNERS_PER_JOB="2")
    wait_for(lambda: BulkEditJob.objects.get(pk=job.pk).state == "finished", timeout=120)
    assert states(job) == {"succeeded": 72}
    workers = {runner.rsplit(":", 1)[0] for runner in job.items.values_list("runner_id", flat=True)}
    assert len(workers) == 2, "both workers should have sent some"
    finished = sorted(job.items.values_list("finished_at", flat=True))
    # 72 sends at 12 a second take at least 71 / 12 = 5.9 s whichever worker sends them; at full speed, about 1 s.
    assert (finished[-1] - finished[0]).total_seconds() >= 0.7 * 71 / 12
    assert_applied_once(kodexa, records)


def test_a_scheduled_job_starts_after_a_worker_restart(kodexa, failed_slices, operator_user, start_worker):
    records = failed_slices(6)
    job = job_for_at(records, operator_user, timezone.now() + timedelta(seconds=4))
    worker = start_worker(**QUICK_WORKER)
    time.sleep(1.5)
    assert BulkEditJob.objects.get(pk=job.pk).state == "scheduled"  # its time has not come
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    wait_for(lambda: timezone.now() > job.start_at + timedelta(seconds=1), timeout=10)
    assert BulkEditJob.objects.get(pk=job.pk).state == "scheduled"  # no worker, no start
    start_worker(**QUICK_WORKER)
    wait_for(lambda: BulkEditJob.objects.get(pk=job.pk).state == "finished", timeout=60)
    assert states(job) == {"succeeded": 6}
    assert_applied_once(kodexa, records)
