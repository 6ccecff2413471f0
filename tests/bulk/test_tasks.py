"""The sweep every worker runs: runners queued for a job whose own stopped beating or that is short of them, never
for one whose runner task still waits for a worker, and not again while the ones it queued wait for one."""

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner
from slices_admin.bulk.runner import run_job
from slices_admin.bulk.tasks import resume_stale_jobs
from tests.bulk.jobs import job_for, states

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]

LONG_AGO = "2020-01-01T00:00Z"


@pytest.fixture
def running_job(settings) -> BulkEditJob:
    """A job created long ago, running, whose runner tasks workers have taken: one runner meant for it."""
    settings.BULK_RUNNERS_PER_JOB = 1
    job = BulkEditJob.objects.create(
        selection={"ids": ["a"]}, target_status="PENDING", reason="sweep", concurrency=4, state="running"
    )
    BulkEditJob.objects.filter(pk=job.pk).update(created_at=LONG_AGO)
    BulkEditItem.objects.create(job=job, slice_id="a")
    return job


def test_a_job_whose_runner_stopped_beating_gets_new_runners_once(running_job):
    BulkEditRunner.objects.create(job=running_job, runner_id="silent", heartbeat_at=LONG_AGO)
    assert resume_stale_jobs() == [running_job.pk]
    DBTaskResult.objects.update(status="RUNNING")  # a worker took the task; its runner has not joined yet
    assert resume_stale_jobs() == []  # queued moments ago: not again
    running_job.refresh_from_db()
    assert running_job.runners_queued_at is not None


def test_a_live_runners_heartbeat_keeps_the_sweep_away(running_job):
    BulkEditRunner.objects.create(job=running_job, runner_id="beating", heartbeat_at=timezone.now())
    assert resume_stale_jobs() == []


def test_a_cancelled_job_whose_runner_died_checks_what_was_in_flight_then_closes(kodexa, failed_slices, operator_user):
    records = failed_slices(3)
    job = job_for(records, operator_user)
    first = job.items.get(slice_id=records[0]["id"])
    BulkEditItem.objects.filter(pk=first.pk).update(
        state="in_flight", sent_change_sequence=records[0]["changeSequence"], runner_id="dead-runner"
    )
    kodexa.put(records[0], status="PENDING")  # the dead runner's PUT had landed
    BulkEditJob.objects.filter(pk=job.pk).update(
        state="running", created_at=LONG_AGO, cancel_requested_at=timezone.now()
    )
    BulkEditRunner.objects.create(job=job, runner_id="dead-runner", heartbeat_at=LONG_AGO)
    assert resume_stale_jobs() == []  # its runner task still waits for a worker: nothing to resume
    DBTaskResult.objects.update(status="RUNNING")  # ... until the worker that took it dies
    assert resume_stale_jobs() == [job.pk]
    assert run_job(job.pk) == "cancelled"
    job.refresh_from_db()
    assert job.state == "cancelled" and states(job) == {"succeeded": 1, "cancelled": 2}
    assert "answer had been lost" in job.items.get(pk=first.pk).message


def test_a_job_short_of_runners_gets_one_more_while_items_wait_unclaimed(
    kodexa, failed_slices, operator_user, settings
):
    settings.BULK_RUNNERS_PER_JOB = 2
    job = job_for(failed_slices(4), operator_user)
    DBTaskResult.objects.update(status="SUCCESSFUL")  # its first runners came and went
    BulkEditJob.objects.filter(pk=job.pk).update(state="running")
    BulkEditRunner.objects.create(job=job, runner_id="the-survivor", heartbeat_at=timezone.now())
    assert resume_stale_jobs() == [job.pk]  # a worker that restarted can join the survivor
    assert resume_stale_jobs() == []  # ... once: that runner's task now waits for a worker
    DBTaskResult.objects.update(status="SUCCESSFUL")
    job.items.update(runner_id="the-survivor")  # every item claimed: a newcomer would find nothing
    assert resume_stale_jobs() == []
