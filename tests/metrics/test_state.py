"""The gauges read from the database at scrape time: bulk edits, the task queue, syncs, worker heartbeats and
Kodexa's reachability; read with a few cheap queries, reused for a few seconds, and never the reason a scrape
fails."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.bulk.pauses import OUTAGE
from slices_admin.core.models import KodexaStatus, WorkerHeartbeat
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.metrics import state
from slices_admin.slices.models import SyncRun
from slices_admin.slices.tasks import run_sync

pytestmark = pytest.mark.django_db

Job, Item = BulkEditJob.State, BulkEditItem.State


def job_with(state: str, *item_states: str, **fields) -> BulkEditJob:
    job = BulkEditJob.objects.create(
        selection={"ids": []}, target_status="PENDING", reason="metrics", concurrency=2, state=state, **fields
    )
    BulkEditItem.objects.bulk_create(
        BulkEditItem(job=job, slice_id=f"{job.pk}-{n}", state=item_state) for n, item_state in enumerate(item_states)
    )
    return job


def minutes_ago(minutes: float):
    return timezone.now() - timedelta(minutes=minutes)


def test_bulk_edits_by_state_and_the_items_of_those_not_ended(scrape):
    job_with(Job.RUNNING, Item.SUCCEEDED, Item.SUCCEEDED, Item.FAILED, Item.IN_FLIGHT, Item.PENDING)
    job_with(Job.QUEUED, Item.PENDING, Item.PENDING)
    job_with(Job.FINISHED, *[Item.SUCCEEDED] * 7)  # ended: its items are the job's outcome, no longer watched
    job_with(Job.AWAITING_APPROVAL)
    now = scrape()
    jobs = {labels["state"]: value for labels, value in now.matching("slices_console_bulk_jobs")}
    assert jobs == {state.value: 0.0 for state in Job} | {"running": 1.0, "queued": 1.0, "finished": 1.0,
                                                          "awaiting_approval": 1.0}  # fmt: skip
    items = {labels["state"]: value for labels, value in now.matching("slices_console_bulk_open_job_items")}
    assert items == {state.value: 0.0 for state in Item} | {"pending": 3.0, "in_flight": 1.0, "succeeded": 2.0,
                                                            "failed": 1.0}  # fmt: skip


def test_the_longest_stall_is_that_of_the_running_job_quiet_longest_and_not_paused(scrape):
    assert scrape().value("slices_console_bulk_longest_stall_seconds") == 0.0
    moving = job_with(Job.RUNNING, Item.SUCCEEDED, Item.PENDING, started_at=minutes_ago(30))
    moving.items.filter(state=Item.SUCCEEDED).update(finished_at=minutes_ago(1))
    stuck = job_with(Job.RUNNING, Item.SUCCEEDED, Item.PENDING, started_at=minutes_ago(60))
    stuck.items.filter(state=Item.SUCCEEDED).update(finished_at=minutes_ago(12))
    job_with(Job.RUNNING, Item.PENDING, started_at=minutes_ago(90), paused_until=timezone.now() + timedelta(minutes=1))
    job_with(Job.RUNNING, Item.PENDING, started_at=minutes_ago(80), pause_reason=f"{OUTAGE} (refused). Nothing…")
    assert scrape().value("slices_console_bulk_longest_stall_seconds") == pytest.approx(12 * 60, abs=5)
    job_with(Job.RUNNING, Item.PENDING, started_at=minutes_ago(20))  # nothing settled since it started
    assert scrape().value("slices_console_bulk_longest_stall_seconds") == pytest.approx(20 * 60, abs=5)


def test_the_queue_depth_counts_due_tasks_and_how_long_the_oldest_waited(scrape):
    assert scrape().value("slices_console_tasks_ready", queue="default") == 0.0  # a queue with nothing is still shown
    older = run_sync.enqueue(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path).pk)
    run_sync.enqueue(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path).pk)
    DBTaskResult.objects.filter(pk=older.id).update(enqueued_at=minutes_ago(5))
    running = run_sync.enqueue(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path).pk)
    DBTaskResult.objects.filter(pk=running.id).update(status="RUNNING")
    now = scrape()
    assert now.value("slices_console_tasks_ready", queue="default") == 2.0
    assert now.value("slices_console_tasks_oldest_ready_age_seconds", queue="default") == pytest.approx(300, abs=5)


def test_sync_ages_come_from_the_last_successful_sync_of_each_resource(scrape):
    assert not scrape().matching("slices_console_sync_last_success_age_seconds")  # none yet: nothing to report
    SyncRun.objects.create(
        resource=ORCHESTRATOR_SLICE.path, status="succeeded", finished_at=minutes_ago(2), newest_seen=minutes_ago(60)
    )
    SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, status="failed", finished_at=minutes_ago(1))
    now = scrape()
    orch = {"resource": ORCHESTRATOR_SLICE.path}
    assert now.value("slices_console_sync_last_success_age_seconds", **orch) == pytest.approx(120, abs=5)
    assert now.value("slices_console_sync_newest_record_age_seconds", **orch) == pytest.approx(3600, abs=5)
    assert now.value("slices_console_sync_last_success_age_seconds", resource=EXECUTION_SLICE.path) is None


def test_each_workers_heartbeat_age_and_how_many_are_alive(scrape, settings):
    settings.WORKER_HEARTBEAT_STALE_SECONDS = 60
    assert scrape().value("slices_console_workers_alive") == 0.0
    WorkerHeartbeat.objects.create(worker_id="web-1:101", started_at=minutes_ago(30), seen_at=minutes_ago(0.1))
    WorkerHeartbeat.objects.create(worker_id="web-2:202", started_at=minutes_ago(30), seen_at=minutes_ago(5))
    now = scrape()
    assert now.value("slices_console_worker_heartbeat_age_seconds", worker="web-1:101") == pytest.approx(6, abs=5)
    assert now.value("slices_console_worker_heartbeat_age_seconds", worker="web-2:202") == pytest.approx(300, abs=5)
    assert now.value("slices_console_workers_alive") == 1.0


def test_kodexa_reachability_as_the_workers_last_recorded_it(scrape):
    assert scrape().value("slices_console_kodexa_up") is None  # nobody has probed: no claim either way
    KodexaStatus.objects.create(pk=1, reachable=False, reason="x", since=minutes_ago(3), checked_at=minutes_ago(0.5))
    now = scrape()
    assert now.value("slices_console_kodexa_up") == 0.0
    assert now.value("slices_console_kodexa_check_age_seconds") == pytest.approx(30, abs=5)
    KodexaStatus.objects.filter(pk=1).update(reachable=True)
    assert scrape().value("slices_console_kodexa_up") == 1.0


def test_the_state_is_read_once_every_few_seconds_not_on_every_scrape(scrape, settings):
    settings.METRICS_CACHE_SECONDS = 60
    assert scrape().value("slices_console_bulk_jobs", state="queued") == 0.0
    job_with(Job.QUEUED)
    assert scrape().value("slices_console_bulk_jobs", state="queued") == 0.0  # the answer of a moment ago
    settings.METRICS_CACHE_SECONDS = 0
    assert scrape().value("slices_console_bulk_jobs", state="queued") == 1.0


@pytest.mark.parametrize("jobs", [1, 25])
def test_reading_the_state_takes_the_same_few_queries_however_many_jobs_and_workers(
    jobs, django_assert_num_queries, settings
):
    for n in range(jobs):
        job_with(Job.RUNNING, Item.PENDING, Item.SUCCEEDED, started_at=minutes_ago(n))
        WorkerHeartbeat.objects.create(worker_id=f"host:{n}", started_at=minutes_ago(9), seen_at=minutes_ago(n))
    with django_assert_num_queries(8):  # jobs, items, stalls, tasks, a sync per resource, heartbeats, Kodexa
        state.read_state()


def test_a_database_that_does_not_answer_leaves_the_counters_and_says_so(scrape, monkeypatch):
    def unreachable(now):
        raise OperationalError("connection refused")
        yield

    monkeypatch.setattr(state, "SECTIONS", (*state.SECTIONS, unreachable))
    now = scrape()
    assert now.value("slices_console_database_up") == 0.0
    assert not now.matching("slices_console_bulk_jobs")
    assert now.matching("slices_console_http_requests_total")
