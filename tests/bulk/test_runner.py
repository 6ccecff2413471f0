"""Runners against the sandbox process and its faults: each item applied exactly once, whatever happens, and a job
shared, cancelled or taken over as its runners come and go."""

import threading
import time

import pytest
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner
from slices_admin.bulk.runner import run_job
from slices_admin.bulk.services import cancel_job
from tests.bulk.jobs import ORCH, assert_applied_once, assert_each_attempt_audited_once, job_for, states

# The runner's sending threads have database connections of their own: they see committed rows only.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def test_transient_failures_and_lost_answers_end_with_every_item_applied_exactly_once(
    kodexa, failed_slices, operator_user, settings
):
    # At a 35% fault rate, five failures in a row would befall one of 40 items every few runs: allow more.
    settings.BULK_MAX_TRANSIENT_FAILURES = 12
    records = failed_slices(40)
    job = job_for(records, operator_user)
    kodexa.set_faults(errorRate=0.2, lostAnswerRate=0.1, timeoutRate=0.05, timeoutSeconds=3, methods=["PUT"], seed=7)
    assert run_job(job.pk) == "finished"
    kodexa.clear_faults()
    job.refresh_from_db()
    assert job.state == "finished" and states(job) == {"succeeded": 40}
    assert_applied_once(kodexa, records)
    retried = job.items.filter(attempts__gt=1)
    assert retried.exists(), "the faults should have forced retries"
    assert any("answer had been lost" in i.message or "409" in i.message for i in retried)
    assert_each_attempt_audited_once(job)


def test_cancel_mid_job_leaves_unsent_items_cancelled_and_untouched(kodexa, failed_slices, operator_user):
    records = failed_slices(30)
    job = job_for(records, operator_user)
    BulkEditJob.objects.filter(pk=job.pk).update(concurrency=2)
    kodexa.set_faults(latencyMs=150, methods=["PUT"])
    runner = threading.Thread(target=run_job, args=(job.pk,))
    runner.start()
    deadline = time.monotonic() + 20
    while job.items.filter(state="succeeded").count() < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    cancel_job(job, context=AuditContext(actor=operator_user))
    runner.join(timeout=30)
    job.refresh_from_db()
    counts = states(job)
    assert job.state == "cancelled" and set(counts) == {"succeeded", "cancelled"}
    assert counts["cancelled"] >= 10
    for item in job.items.filter(state="cancelled"):
        assert kodexa.get(ORCH, item.slice_id)["status"] == "FAILED" and item.attempts == 0
    assert AuditEntry.objects.filter(bulk_job_id=job.pk, action="bulk_cancel").count() == 1


def test_a_second_runner_leaves_a_live_runners_items_alone_and_takes_them_back_once_it_dies(
    kodexa, failed_slices, operator_user
):
    records = failed_slices(3)
    job = job_for(records, operator_user)
    BulkEditJob.objects.filter(pk=job.pk).update(state="running")
    alive = BulkEditRunner.objects.create(job=job, runner_id="alive", heartbeat_at=timezone.now())
    held = job.items.get(slice_id=records[0]["id"])
    BulkEditItem.objects.filter(pk=held.pk).update(runner_id="alive")  # claimed, not yet sent
    assert run_job(job.pk) == "done with its share; other runners are still working"
    assert states(job) == {"succeeded": 2, "pending": 1}
    assert kodexa.put_count(records[0]["id"]) == 0

    BulkEditRunner.objects.filter(pk=alive.pk).update(heartbeat_at="2020-01-01T00:00Z")  # it stopped beating
    assert run_job(job.pk) == "finished"
    job.refresh_from_db()
    assert states(job) == {"succeeded": 3} and job.resumed_count == 1
    assert not BulkEditRunner.objects.exists()  # runners leave when they are done
    assert [kodexa.put_count(r["id"]) for r in records] == [1, 1, 1]
    assert run_job(job.pk) == "nothing to do: the job is over, paused or waiting to start"
