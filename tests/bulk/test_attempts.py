"""One attempt at an item, against the sandbox: conflicts reported and never overwritten, an unknown PUT checked
before anything is sent again, refusals kept with Kodexa's message, slices already changed skipped."""

import pytest

from slices_admin.audit.services import AuditContext
from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner
from slices_admin.bulk.runner import run_job
from slices_admin.bulk.services import follow_up
from tests.bulk.jobs import ORCH, assert_applied_once, job_for, states
from tests.factories import cache_orchestrator

# The runner's sending threads have database connections of their own: they see committed rows only.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def test_slices_changed_after_selection_are_conflicts_never_overwritten(kodexa, failed_slices, operator_user):
    records = failed_slices(6)
    job = job_for(records, operator_user)
    changed = [kodexa.put(record, status="SUCCEEDED") for record in records[:2]]  # someone else, on Kodexa
    run_job(job.pk)
    job.refresh_from_db()
    assert states(job) == {"conflict": 2, "succeeded": 4}
    for record in changed:
        assert kodexa.get(ORCH, record["id"])["status"] == "SUCCEEDED"  # not overwritten
        item = job.items.get(slice_id=record["id"])
        assert (item.current_status, item.current_change_sequence) == ("SUCCEEDED", record["changeSequence"])
        assert "Changed since it was selected" in item.message
    again = follow_up(job, "reapply", context=AuditContext(actor=operator_user))
    run_job(again.pk)
    assert states(again) == {"succeeded": 2}
    assert {kodexa.get(ORCH, r["id"])["status"] for r in records} == {"PENDING"}


def test_a_stale_cache_is_caught_by_kodexas_lock_not_by_luck(kodexa, failed_slices, operator_user):
    """The cache still holds the old version: the PUT carries the old changeSequence and Kodexa refuses it."""
    records = failed_slices(3)
    job = job_for(records, operator_user)
    kodexa.put(records[0], errorMessage="someone else's note")
    run_job(job.pk)
    item = job.items.get(slice_id=records[0]["id"])
    assert item.state == "conflict" and item.status_code == 409
    assert kodexa.get(ORCH, records[0]["id"])["errorMessage"] == "someone else's note"


def test_reading_before_writing_gives_the_same_outcomes(kodexa, failed_slices, operator_user, settings):
    settings.BULK_READ_BEFORE_WRITE = True
    records = failed_slices(5)
    job = job_for(records, operator_user)
    kodexa.put(records[0], status="RUNNING")
    before = kodexa.request_count()
    run_job(job.pk)
    assert states(job) == {"conflict": 1, "succeeded": 4}
    assert kodexa.request_count() - before == 5 + 4  # a read of each, and a PUT of those unchanged


def test_an_in_flight_item_whose_put_landed_is_not_sent_again_after_a_crash(kodexa, failed_slices, operator_user):
    records = failed_slices(3)
    job = job_for(records, operator_user)
    # A runner sent the first item and died before hearing back: the ledger says in flight, Kodexa has the change.
    first = job.items.get(slice_id=records[0]["id"])
    BulkEditItem.objects.filter(pk=first.pk).update(
        state="in_flight", sent_change_sequence=records[0]["changeSequence"], runner_id="dead-runner"
    )
    kodexa.put(records[0], status="PENDING")
    BulkEditJob.objects.filter(pk=job.pk).update(state="running")
    BulkEditRunner.objects.create(job=job, runner_id="dead-runner", heartbeat_at="2020-01-01T00:00Z")
    assert run_job(job.pk) == "finished"
    first.refresh_from_db()
    assert first.state == "succeeded" and "answer had been lost" in first.message
    assert kodexa.call("GET", "/_sandbox/stats").json()["putCounts"][records[0]["id"]] == 1
    assert states(job) == {"succeeded": 3}


def test_permanent_failures_keep_kodexas_message_and_can_be_retried(kodexa, failed_slices, operator_user):
    records = failed_slices(4)
    job = job_for(records, operator_user)
    kodexa.set_faults(failNext=[{"status": 400, "count": 2, "method": "PUT"}])
    run_job(job.pk)
    failed = job.items.filter(state="failed")
    assert failed.count() == 2 and all(i.status_code == 400 and i.message for i in failed)
    retry = follow_up(job, "retry", context=AuditContext(actor=operator_user))
    assert retry.retry_of == job and retry.items.count() == 2
    run_job(retry.pk)
    assert states(retry) == {"succeeded": 2}
    assert_applied_once(kodexa, records)


def test_slices_already_at_the_target_are_skipped_without_a_request(kodexa, failed_slices, operator_user):
    records = failed_slices(3)
    already = kodexa.put(records[0], status="PENDING")
    cache_orchestrator(already)
    job = job_for(records, operator_user)
    assert states(job) == {"skipped": 1, "pending": 2}
    run_job(job.pk)
    assert states(job) == {"skipped": 1, "succeeded": 2}
    assert kodexa.call("GET", "/_sandbox/stats").json()["putCounts"][already["id"]] == 1  # ours never came


def test_a_429_on_the_checking_read_does_not_forget_an_unknown_put(kodexa, failed_slices, operator_user, settings):
    settings.BULK_READ_BEFORE_WRITE = True
    records = failed_slices(1)
    job = job_for(records, operator_user)
    item = job.items.get()
    BulkEditItem.objects.filter(pk=item.pk).update(sent_change_sequence=records[0]["changeSequence"])
    kodexa.put(records[0], status="PENDING")  # an earlier PUT landed, its answer lost
    kodexa.set_faults(failNext=[{"status": 429, "method": "GET", "retryAfter": 1}])
    run_job(job.pk)
    item.refresh_from_db()
    assert item.state == "succeeded" and item.attempts == 2
    assert kodexa.call("GET", "/_sandbox/stats").json()["putCounts"][records[0]["id"]] == 1
