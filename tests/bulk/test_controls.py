"""A person's hold on a running edit, with the real runner against the sandbox: pause (nothing new sent, what was in
flight recorded, paused until resumed), a maximum rate for the job as a whole, scheduled starts and their drift
check."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.changes import Change
from slices_admin.bulk.controls import release_due_jobs
from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.runner import run_job
from slices_admin.bulk.tasks import resume_stale_jobs
from tests.bulk.jobs import assert_applied_once, job_for, states
from tests.factories import cache_orchestrator
from tests.support import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def test_a_paused_job_sends_nothing_new_records_what_was_in_flight_and_waits_to_be_resumed(
    kodexa, failed_slices, operator_user
):
    records = failed_slices(30)
    job = job_for(records, operator_user)
    BulkEditJob.objects.filter(pk=job.pk).update(concurrency=2)
    kodexa.set_faults(latencyMs=150, methods=["PUT"])
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(run_job(job.pk)))
    runner.start()
    wait_for(lambda: job.items.filter(state="succeeded").count() >= 4, timeout=20)
    services.pause_job(job, context=AuditContext(actor=operator_user))
    runner.join(timeout=30)
    assert outcome == ["paused: what was in flight is recorded; it waits for someone to resume it"]
    job.refresh_from_db()
    assert job.state == "paused" and job.paused_by == operator_user
    assert not job.items.filter(state="in_flight").exists()  # what was in flight came back and was recorded
    done, sent = job.items.filter(state="succeeded").count(), kodexa.request_count()
    assert 4 <= done < 30
    assert resume_stale_jobs() == []  # the sweep leaves a paused job alone
    time.sleep(1.5)
    assert kodexa.request_count() == sent and job.items.filter(state="succeeded").count() == done
    assert (
        run_job(job.pk) == "nothing to do: the job is over, paused or waiting to start"
    )  # a runner queued earlier finds nothing to do

    services.resume_job(job, context=AuditContext(actor=operator_user))
    kodexa.clear_faults()
    assert run_job(job.pk) == "finished"
    job.refresh_from_db()
    assert job.state == "finished" and states(job) == {"succeeded": 30}
    assert_applied_once(kodexa, records)
    kinds = set(AuditEntry.objects.filter(bulk_job_id=job.pk).values_list("action", flat=True))
    assert {"bulk_pause", "bulk_resume"} <= kinds


def test_only_queued_or_running_jobs_pause_and_only_paused_ones_resume(kodexa, failed_slices, operator_user):
    job = job_for(failed_slices(2), operator_user)
    context = AuditContext(actor=operator_user)
    with pytest.raises(services.BulkEditError, match="not paused"):
        services.resume_job(job, context=context)
    services.pause_job(job, context=context)
    with pytest.raises(services.BulkEditError, match="only a queued or running job can be paused"):
        services.pause_job(job, context=context)
    cancelled = services.cancel_job(job, context=context)  # a paused job cancels at once: nothing was sent
    assert cancelled.state == "cancelled" and states(cancelled) == {"cancelled": 2}


def test_the_rate_holds_for_the_job_as_a_whole_across_runners(kodexa, failed_slices, operator_user, settings):
    settings.BULK_CONCURRENCY, settings.BULK_RUNNERS_PER_JOB = 8, 2  # two runners of 4 threads, claiming 32 at a time
    records = failed_slices(48)
    job = job_for(records, operator_user)
    services.set_rate(job, 16.0, context=AuditContext(actor=operator_user))
    # Two runners side by side, as two workers would: each alone could send 4 at a time with no wait at all.
    runners = [threading.Thread(target=run_job, args=(job.pk,)) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=60)
    job.refresh_from_db()
    assert job.state == "finished" and states(job) == {"succeeded": 48}
    finished = sorted(job.items.values_list("finished_at", flat=True))
    # 48 sends at 16 a second take at least 47 / 16 = 2.9 s however many runners share them; unthrottled, under 1 s.
    assert (finished[-1] - finished[0]).total_seconds() >= 0.7 * 47 / 16
    assert len(set(job.items.values_list("runner_id", flat=True))) == 2  # both runners sent
    assert_applied_once(kodexa, records)
    entry = AuditEntry.objects.get(bulk_job_id=job.pk, action="bulk_rate")
    assert (entry.request_body["maxRateBefore"], entry.request_body["maxRate"]) == (None, 16.0)


def test_a_rate_is_checked_field_by_field(kodexa, failed_slices, operator_user, settings):
    settings.BULK_MAX_RATE = 50
    job = job_for(failed_slices(2), operator_user)
    for wrong in (0, -1, 51):
        with pytest.raises(services.BulkEditError) as refused:
            services.set_rate(job, wrong, context=AuditContext(actor=operator_user))
        assert list(refused.value.errors) == ["maxRate"]
    assert services.set_rate(job, None, context=AuditContext(actor=operator_user)).max_rate is None


def test_a_scheduled_job_starts_at_its_time_with_its_selection_counted_again(kodexa, failed_slices, operator_user):
    records = failed_slices(4)
    job = job_for_at(records, operator_user, timezone.now() + timedelta(hours=1))
    assert job.state == "scheduled" and not job.items.exists()
    assert release_due_jobs() == []
    BulkEditJob.objects.filter(pk=job.pk).update(start_at=timezone.now() - timedelta(seconds=1))
    assert release_due_jobs() == [job.pk]
    job.refresh_from_db()
    assert job.state == "queued" and job.items.count() == 4
    kinds = list(AuditEntry.objects.filter(bulk_job_id=job.pk).order_by("id").values_list("action", flat=True))
    assert kinds == ["bulk_schedule", "bulk_release", "bulk_start"]
    assert run_job(job.pk) == "finished"
    assert_applied_once(kodexa, records)


def test_a_scheduled_job_whose_selection_drifted_does_not_start_and_says_why(kodexa, failed_slices, operator_user):
    records = failed_slices(10)
    job = job_for_at(records, operator_user, timezone.now() + timedelta(hours=1))
    for _ in range(2):  # 20% more than confirmed; 10% is allowed
        cache_orchestrator(kodexa.new_orchestrator_slice(pipelineExecutionId=records[0]["pipelineExecutionId"]))
    with pytest.raises(services.BulkEditError, match="now changes 12 slices, not the 10 confirmed"):
        services.start_now(job, context=AuditContext(actor=operator_user))
    BulkEditJob.objects.filter(pk=job.pk).update(start_at=timezone.now())
    assert release_due_jobs() == []
    job.refresh_from_db()
    assert job.state == "not_started" and not job.items.exists()
    assert "now changes 12 slices, not the 10 confirmed (20% apart; at most 10% is allowed)" in job.closed_note
    assert AuditEntry.objects.filter(bulk_job_id=job.pk, action="bulk_not_started").count() == 1


def test_a_scheduled_job_starts_now_or_cancels(kodexa, failed_slices, operator_user):
    later = timezone.now() + timedelta(hours=1)
    job = job_for_at(failed_slices(3), operator_user, later)
    started = services.start_now(job, context=AuditContext(actor=operator_user))
    assert started.state == "queued" and started.items.count() == 3
    other = job_for_at(failed_slices(3), operator_user, later)
    assert services.cancel_job(other, context=AuditContext(actor=operator_user)).state == "cancelled"


def test_a_start_time_must_be_ahead_and_not_too_far(kodexa, failed_slices, operator_user, settings):
    settings.BULK_SCHEDULE_MAX_DAYS = 7
    records = failed_slices(2)
    for wrong in (timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(days=8)):
        with pytest.raises(services.BulkEditError) as refused:
            job_for_at(records, operator_user, wrong)
        assert list(refused.value.errors) == ["startAt"]
    assert not BulkEditJob.objects.exists()


def job_for_at(records, operator_user, start_at):
    pipeline = records[0]["pipelineExecutionId"]
    return services.create_job(
        services.Selection.from_filter({"pipelineExecutionId": pipeline}),
        Change("PENDING", reason="tonight, when nothing runs"),
        context=AuditContext(actor=operator_user),
        confirmed_count=len(records),
        start_at=start_at,
    )


def test_api_pauses_resumes_rates_and_starts_jobs_and_says_why_not(kodexa, failed_slices, operator_user, api):
    client = api("operator")
    job = job_for(failed_slices(2), operator_user)
    base = f"/api/v1/bulk-edits/{job.pk}"
    paused = client.post(f"{base}/pause", format="json")
    assert paused.status_code == 200 and paused.json()["state"] == "paused" and paused.json()["pausedAt"]
    again = client.post(f"{base}/pause", format="json")
    assert again.status_code == 400 and "only a queued or running job" in again.json()["nonFieldErrors"][0]
    rated = client.post(f"{base}/rate", {"maxRate": 2.5}, format="json")
    assert rated.status_code == 200 and rated.json()["maxRate"] == 2.5
    zero = client.post(f"{base}/rate", {"maxRate": 0}, format="json")
    assert zero.status_code == 400 and list(zero.json()) == ["maxRate"]
    assert client.post(f"{base}/resume", format="json").json()["state"] == "queued"
    started = client.post(f"{base}/start", format="json")
    assert started.status_code == 400 and "not scheduled" in started.json()["nonFieldErrors"][0]
    later = (timezone.now() + timedelta(hours=2)).isoformat()
    body = {"ids": [failed_slices(1)[0]["id"]], "targetStatus": "PENDING", "reason": "tonight", "startAt": later}
    scheduled = client.post("/api/v1/bulk-edits", body, format="json").json()
    assert (scheduled["state"], scheduled["total"]) == ("scheduled", 0)
    assert client.post(f"/api/v1/bulk-edits/{scheduled['id']}/start", format="json").json()["state"] == "queued"


def test_api_cancel_of_a_request_awaiting_approval_says_to_withdraw_or_reject(
    kodexa, failed_slices, operator_user, api, settings
):
    settings.BULK_APPROVAL_THRESHOLD = 1
    job = job_for(failed_slices(2), operator_user)
    refused = api("admin").post(f"/api/v1/bulk-edits/{job.pk}/cancel", format="json")
    assert refused.status_code == 400 and "withdraws it" in refused.json()["nonFieldErrors"][0]
    assert BulkEditJob.objects.get(pk=job.pk).state == "awaiting_approval"
