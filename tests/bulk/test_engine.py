"""The bulk engine against the sandbox process and its faults: each item applied exactly once, whatever happens."""

import threading
import time

import pytest
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk import engine
from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner
from slices_admin.bulk.services import BulkEditError, Change, Selection, create_job, follow_up, preview
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from tests.factories import cache_orchestrator

# The engine's sending threads have database connections of their own: they see committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)

ORCH = ORCHESTRATOR_SLICE.path


@pytest.fixture(autouse=True)
def quick(settings):
    settings.BULK_BACKOFF_SECONDS = 0.01
    settings.BULK_CONCURRENCY = 8
    settings.BULK_CONFIRM_THRESHOLD = 1000


@pytest.fixture
def operator(make_user):
    return make_user("operator")


def job_for(records, operator, target="PENDING", **change) -> BulkEditJob:
    pipeline = records[0]["pipelineExecutionId"]
    selection = Selection.from_filter({"pipelineExecutionId": pipeline})
    return create_job(
        selection,
        Change(target, reason="re-queue after the outage", **change),
        context=AuditContext(actor=operator),
        confirmed_count=len(records),
    )


def states(job) -> dict[str, int]:
    counts = {}
    for state in job.items.values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def assert_applied_once(kodexa, records, target="PENDING"):
    stats = kodexa.call("GET", "/_sandbox/stats").json()["putCounts"]
    for record in records:
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["changeSequence"]) == (target, record["changeSequence"] + 1), record["id"]
        assert stats.get(record["id"]) == 1


def assert_each_attempt_audited_once(job):
    for item in job.items.all():
        entries = AuditEntry.objects.filter(bulk_job_id=job.pk, remote_id=item.slice_id, action="update")
        assert entries.count() == item.attempts, item
        assert all(e.reason == job.reason for e in entries)


def test_transient_failures_and_lost_answers_end_with_every_item_applied_exactly_once(
    kodexa, failed_slices, operator, settings
):
    # At a 35% fault rate, five failures in a row would befall one of 40 items every few runs: allow more.
    settings.BULK_MAX_TRANSIENT_FAILURES = 12
    records = failed_slices(40)
    job = job_for(records, operator)
    kodexa.set_faults(errorRate=0.2, lostAnswerRate=0.1, timeoutRate=0.05, timeoutSeconds=3, methods=["PUT"], seed=7)
    assert engine.run_job(job.pk) == "finished"
    kodexa.clear_faults()
    job.refresh_from_db()
    assert job.state == "finished" and states(job) == {"succeeded": 40}
    assert_applied_once(kodexa, records)
    retried = job.items.filter(attempts__gt=1)
    assert retried.exists(), "the faults should have forced retries"
    assert any("answer had been lost" in i.message or "409" in i.message for i in retried)
    assert_each_attempt_audited_once(job)


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The pauses the engine takes, in seconds (the real pause still happens)."""
    taken, pause = [], engine.Runner._pause

    def spy(runner, seconds, reason):
        taken.append(seconds)
        return pause(runner, seconds, reason)

    monkeypatch.setattr(engine.Runner, "_pause", spy)
    return taken


def test_a_429_storm_pauses_the_whole_job_and_is_waited_out(kodexa, failed_slices, operator, pauses):
    records = failed_slices(12)
    job = job_for(records, operator)
    kodexa.set_faults(failNext=[{"status": 429, "count": 6, "method": "PUT", "retryAfter": 1}])
    engine.run_job(job.pk)
    job.refresh_from_db()
    assert states(job) == {"succeeded": 12}
    assert pauses and set(pauses) == {1.0}  # the Retry-After, honoured job-wide
    assert job.paused_until is None  # cleared when it finished
    limited = AuditEntry.objects.filter(bulk_job_id=job.pk, response_status=429)
    assert limited.count() == 6 and "paused" in limited.first().error
    assert_applied_once(kodexa, records)


def test_slices_changed_after_selection_are_conflicts_never_overwritten(kodexa, failed_slices, operator):
    records = failed_slices(6)
    job = job_for(records, operator)
    changed = [kodexa.put(record, status="SUCCEEDED") for record in records[:2]]  # someone else, on Kodexa
    engine.run_job(job.pk)
    job.refresh_from_db()
    assert states(job) == {"conflict": 2, "succeeded": 4}
    for record in changed:
        assert kodexa.get(ORCH, record["id"])["status"] == "SUCCEEDED"  # not overwritten
        item = job.items.get(slice_id=record["id"])
        assert (item.current_status, item.current_change_sequence) == ("SUCCEEDED", record["changeSequence"])
        assert "Changed since it was selected" in item.message
    again = follow_up(job, "reapply", context=AuditContext(actor=operator))
    engine.run_job(again.pk)
    assert states(again) == {"succeeded": 2}
    assert {kodexa.get(ORCH, r["id"])["status"] for r in records} == {"PENDING"}


def test_a_stale_cache_is_caught_by_kodexas_lock_not_by_luck(kodexa, failed_slices, operator):
    """The cache still holds the old version: the PUT carries the old changeSequence and Kodexa refuses it."""
    records = failed_slices(3)
    job = job_for(records, operator)
    kodexa.put(records[0], errorMessage="someone else's note")
    engine.run_job(job.pk)
    item = job.items.get(slice_id=records[0]["id"])
    assert item.state == "conflict" and item.status_code == 409
    assert kodexa.get(ORCH, records[0]["id"])["errorMessage"] == "someone else's note"


def test_reading_before_writing_gives_the_same_outcomes(kodexa, failed_slices, operator, settings):
    settings.BULK_READ_BEFORE_WRITE = True
    records = failed_slices(5)
    job = job_for(records, operator)
    kodexa.put(records[0], status="RUNNING")
    before = kodexa.request_count()
    engine.run_job(job.pk)
    assert states(job) == {"conflict": 1, "succeeded": 4}
    assert kodexa.request_count() - before == 5 + 4  # a read of each, and a PUT of those unchanged


def test_cancel_mid_job_leaves_unsent_items_cancelled_and_untouched(kodexa, failed_slices, operator):
    records = failed_slices(30)
    job = job_for(records, operator)
    BulkEditJob.objects.filter(pk=job.pk).update(concurrency=2)
    kodexa.set_faults(latencyMs=150, methods=["PUT"])
    runner = threading.Thread(target=engine.run_job, args=(job.pk,))
    runner.start()
    deadline = time.monotonic() + 20
    while job.items.filter(state="succeeded").count() < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    from slices_admin.bulk.services import cancel_job

    cancel_job(job, context=AuditContext(actor=operator))
    runner.join(timeout=30)
    job.refresh_from_db()
    counts = states(job)
    assert job.state == "cancelled" and set(counts) == {"succeeded", "cancelled"}
    assert counts["cancelled"] >= 10
    for item in job.items.filter(state="cancelled"):
        assert kodexa.get(ORCH, item.slice_id)["status"] == "FAILED" and item.attempts == 0
    assert AuditEntry.objects.filter(bulk_job_id=job.pk, action="bulk_cancel").count() == 1


def test_an_in_flight_item_whose_put_landed_is_not_sent_again_after_a_crash(kodexa, failed_slices, operator):
    records = failed_slices(3)
    job = job_for(records, operator)
    # A runner sent the first item and died before hearing back: the ledger says in flight, Kodexa has the change.
    first = job.items.get(slice_id=records[0]["id"])
    BulkEditItem.objects.filter(pk=first.pk).update(
        state="in_flight", sent_change_sequence=records[0]["changeSequence"], runner_id="dead-runner"
    )
    kodexa.put(records[0], status="PENDING")
    BulkEditJob.objects.filter(pk=job.pk).update(state="running", heartbeat_at="2020-01-01T00:00Z")
    BulkEditRunner.objects.create(job=job, runner_id="dead-runner", heartbeat_at="2020-01-01T00:00Z")
    assert engine.run_job(job.pk) == "finished"
    first.refresh_from_db()
    assert first.state == "succeeded" and "answer had been lost" in first.message
    assert kodexa.call("GET", "/_sandbox/stats").json()["putCounts"][records[0]["id"]] == 1
    assert states(job) == {"succeeded": 3}


def test_a_second_runner_leaves_a_live_runners_items_alone_and_takes_them_back_once_it_dies(
    kodexa, failed_slices, operator
):
    records = failed_slices(3)
    job = job_for(records, operator)
    BulkEditJob.objects.filter(pk=job.pk).update(state="running", heartbeat_at=timezone.now())
    alive = BulkEditRunner.objects.create(job=job, runner_id="alive", heartbeat_at=timezone.now())
    held = job.items.get(slice_id=records[0]["id"])
    BulkEditItem.objects.filter(pk=held.pk).update(runner_id="alive")  # claimed, not yet sent
    assert engine.run_job(job.pk) == "done with its share; other runners are still working"
    assert states(job) == {"succeeded": 2, "pending": 1}
    assert kodexa.put_count(records[0]["id"]) == 0

    BulkEditRunner.objects.filter(pk=alive.pk).update(heartbeat_at="2020-01-01T00:00Z")  # it stopped beating
    assert engine.run_job(job.pk) == "finished"
    job.refresh_from_db()
    assert states(job) == {"succeeded": 3} and job.resumed_count == 1
    assert not BulkEditRunner.objects.exists()  # runners leave when they are done
    assert [kodexa.put_count(r["id"]) for r in records] == [1, 1, 1]
    assert engine.run_job(job.pk) == "nothing to do: the job is over"


def test_permanent_failures_keep_kodexas_message_and_can_be_retried(kodexa, failed_slices, operator):
    records = failed_slices(4)
    job = job_for(records, operator)
    kodexa.set_faults(failNext=[{"status": 400, "count": 2, "method": "PUT"}])
    engine.run_job(job.pk)
    failed = job.items.filter(state="failed")
    assert failed.count() == 2 and all(i.status_code == 400 and i.message for i in failed)
    retry = follow_up(job, "retry", context=AuditContext(actor=operator))
    assert retry.retry_of == job and retry.items.count() == 2
    engine.run_job(retry.pk)
    assert states(retry) == {"succeeded": 2}
    assert_applied_once(kodexa, records)


def test_slices_already_at_the_target_are_skipped_without_a_request(kodexa, failed_slices, operator):
    records = failed_slices(3)
    already = kodexa.put(records[0], status="PENDING")
    cache_orchestrator(already)
    job = job_for(records, operator)
    assert states(job) == {"skipped": 1, "pending": 2}
    engine.run_job(job.pk)
    assert states(job) == {"skipped": 1, "succeeded": 2}
    assert kodexa.call("GET", "/_sandbox/stats").json()["putCounts"][already["id"]] == 1  # ours never came


def test_the_preview_sends_nothing_and_writes_nothing(kodexa, failed_slices, operator):
    records = failed_slices(5)
    before = kodexa.request_count()
    selection = Selection.from_filter({"pipelineExecutionId": records[0]["pipelineExecutionId"]})
    seen = preview(selection, Change("PENDING", reason="x"))
    assert (seen.total, seen.to_change, seen.to_skip) == (5, 5, 0)
    assert seen.before_statuses == {"FAILED": 5} and len(seen.sample) == 5
    assert kodexa.request_count() == before and not BulkEditJob.objects.exists()


def test_a_large_edit_needs_the_count_typed_and_a_grown_selection_is_caught(kodexa, failed_slices, operator, settings):
    settings.BULK_CONFIRM_THRESHOLD = 3
    records = failed_slices(4)
    selection = Selection.from_filter({"pipelineExecutionId": records[0]["pipelineExecutionId"]})
    change = Change("PENDING", reason="fix")
    with pytest.raises(BulkEditError, match="Type 4"):
        create_job(selection, change, context=AuditContext(actor=operator))
    cache_orchestrator(
        kodexa.new_orchestrator_slice(status="FAILED", pipelineExecutionId=records[0]["pipelineExecutionId"])
    )
    with pytest.raises(BulkEditError, match="now changes 5 slices, not 4"):
        create_job(selection, change, context=AuditContext(actor=operator), confirmed_count=4)
    assert not BulkEditJob.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [(Change("PENDING", reason=" "), "reason"), (Change("EXPLODED", reason="x"), "targetStatus")],
)
def test_an_invalid_edit_is_refused_field_by_field(kodexa, failed_slices, operator, change, field):
    records = failed_slices(1)
    with pytest.raises(BulkEditError) as refused:
        create_job(Selection.from_ids([records[0]["id"]]), change, context=AuditContext(actor=operator))
    assert field in refused.value.errors and not BulkEditJob.objects.exists()


def test_a_cancelled_job_whose_runner_died_checks_what_was_in_flight_then_closes(kodexa, failed_slices, operator):
    records = failed_slices(3)
    job = job_for(records, operator)
    first = job.items.get(slice_id=records[0]["id"])
    BulkEditItem.objects.filter(pk=first.pk).update(
        state="in_flight", sent_change_sequence=records[0]["changeSequence"], runner_id="dead-runner"
    )
    kodexa.put(records[0], status="PENDING")  # the dead runner's PUT had landed
    BulkEditJob.objects.filter(pk=job.pk).update(
        state="running", heartbeat_at="2020-01-01T00:00Z", cancel_requested_at=timezone.now()
    )
    from django_tasks_db.models import DBTaskResult

    assert engine.resume_stale_jobs() == []  # its runner task still waits for a worker: nothing to resume
    DBTaskResult.objects.update(status="RUNNING")  # ... until the worker that took it dies
    assert engine.resume_stale_jobs() == [job.pk]
    assert engine.run_job(job.pk) == "cancelled"
    job.refresh_from_db()
    assert job.state == "cancelled" and states(job) == {"succeeded": 1, "cancelled": 2}
    assert "answer had been lost" in job.items.get(pk=first.pk).message


def test_a_429_on_the_checking_read_does_not_forget_an_unknown_put(kodexa, failed_slices, operator, settings):
    settings.BULK_READ_BEFORE_WRITE = True
    records = failed_slices(1)
    job = job_for(records, operator)
    item = job.items.get()
    BulkEditItem.objects.filter(pk=item.pk).update(sent_change_sequence=records[0]["changeSequence"])
    kodexa.put(records[0], status="PENDING")  # an earlier PUT landed, its answer lost
    kodexa.set_faults(failNext=[{"status": 429, "method": "GET", "retryAfter": 1}])
    engine.run_job(job.pk)
    item.refresh_from_db()
    assert item.state == "succeeded" and item.attempts == 2
    assert kodexa.call("GET", "/_sandbox/stats").json()["putCounts"][records[0]["id"]] == 1


def test_a_refused_api_key_pauses_the_job_instead_of_failing_every_slice(
    kodexa, failed_slices, operator, settings, pauses
):
    settings.BULK_KEY_REFUSED_PAUSE_SECONDS = 1
    records = failed_slices(5)
    job = job_for(records, operator)
    kodexa.set_faults(failNext=[{"status": 401, "count": 3, "method": "PUT"}])
    engine.run_job(job.pk)
    assert states(job) == {"succeeded": 5} and pauses and set(pauses) == {1.0}
    assert AuditEntry.objects.filter(bulk_job_id=job.pk, response_status=401).count() == 3


def test_asking_for_the_same_follow_up_twice_is_refused(kodexa, failed_slices, operator):
    records = failed_slices(2)
    job = job_for(records, operator)
    kodexa.set_faults(failNext=[{"status": 400, "count": 2, "method": "PUT"}])
    engine.run_job(job.pk)
    follow_up(job, "retry", context=AuditContext(actor=operator))
    with pytest.raises(BulkEditError, match="already doing this"):
        follow_up(job, "retry", context=AuditContext(actor=operator))


def test_kodexa_down_pauses_the_job_without_spending_retries_and_it_resumes_when_kodexa_returns(
    tmp_path, operator, settings
):
    from tests.conftest import start_sandbox, stop

    data, api_key = tmp_path / "kodexa.sqlite3", "kx-outage-test"
    up = start_sandbox(data, api_key)
    port = up.url.rsplit(":", 1)[1]
    settings.KODEXA_BASE_URL, settings.KODEXA_API_KEY, settings.KODEXA_READ_TIMEOUT = up.url, api_key, 2
    settings.BULK_OUTAGE_PROBE_SECONDS, settings.BULK_OUTAGE_PROBE_MAX_SECONDS = 0.2, 0.4
    pipeline = "pipe-outage"
    records = [up.new_orchestrator_slice(status="FAILED", pipelineExecutionId=pipeline) for _ in range(12)]
    cache_orchestrator(*records)
    job = job_for(records, operator)
    stop(up.process)  # Kodexa goes away entirely: connections are refused

    runner = threading.Thread(target=engine.run_job, args=(job.pk,))
    runner.start()
    deadline = time.monotonic() + 30
    while "not answering" not in BulkEditJob.objects.get(pk=job.pk).pause_reason:
        assert time.monotonic() < deadline, "the job should have paused"
        time.sleep(0.1)
    time.sleep(1.5)  # several probes find Kodexa still down
    assert states(job) == {"pending": 12}  # nothing given up, nothing lost
    tried = sum(job.items.values_list("attempts", flat=True))
    assert tried <= settings.BULK_CONCURRENCY  # each thread tried once, then waited: no retry storm
    assert all(i.transient_failures == 0 for i in job.items.all())

    back = start_sandbox(data, api_key, "--port", port)  # Kodexa returns, same address, same data
    try:
        runner.join(timeout=60)
        assert not runner.is_alive()
        job.refresh_from_db()
        assert job.state == "finished" and states(job) == {"succeeded": 12}
        assert job.paused_until is None and job.pause_reason == ""
        assert_applied_once(back, records)
        assert_each_attempt_audited_once(job)
        down = AuditEntry.objects.filter(bulk_job_id=job.pk, action="update", outcome="failed")
        assert down.count() == tried and all("Kodexa looks down" in e.error for e in down)
    finally:
        stop(back.process)


def test_a_job_short_of_runners_gets_one_more_while_items_wait_unclaimed(kodexa, failed_slices, operator, settings):
    from django_tasks_db.models import DBTaskResult

    settings.BULK_RUNNERS_PER_JOB = 2
    job = job_for(failed_slices(4), operator)
    DBTaskResult.objects.update(status="SUCCESSFUL")  # its first runners came and went
    BulkEditJob.objects.filter(pk=job.pk).update(state="running", heartbeat_at=timezone.now())
    BulkEditRunner.objects.create(job=job, runner_id="the-survivor", heartbeat_at=timezone.now())
    assert engine.resume_stale_jobs() == [job.pk]  # a worker that restarted can join the survivor
    assert engine.resume_stale_jobs() == []  # ... once: that runner's task now waits for a worker
    DBTaskResult.objects.update(status="SUCCESSFUL")
    job.items.update(runner_id="the-survivor")  # every item claimed: a newcomer would find nothing
    assert engine.resume_stale_jobs() == []


def test_runners_never_outnumber_the_requests_a_job_may_have_in_flight(settings):
    from slices_admin.bulk.tasks import runners_for

    settings.BULK_RUNNERS_PER_JOB = 2
    assert [runners_for(c) for c in (1, 2, 3, 16)] == [1, 2, 2, 2]
