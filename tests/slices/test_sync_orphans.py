"""A sync whose background worker stops half-way (SIGKILL, its host gone) is closed as failed by another worker's
sweep, audited, and no longer holds back the next sync of its resource; a run whose worker still beats is left."""

import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.core.models import WorkerHeartbeat
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import OrchestratorSlice, SyncRun
from slices_admin.slices.services import start_sync
from slices_admin.slices.sync import fail_orphaned_runs
from tests.support import wait_for

QUICK_WORKER = {"BULK_SWEEP_SECONDS": "0.5", "WORKER_HEARTBEAT_STALE_SECONDS": "2"}


def sync_entries(run: SyncRun) -> list[str]:
    return [
        entry.outcome
        for entry in AuditEntry.objects.filter(action=AuditEntry.Action.SYNC)
        if entry.request_body.get("syncRun") == run.pk
    ]


@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_worker_was_killed_is_closed_as_failed_and_the_next_one_runs(kodexa, start_worker):
    records = [kodexa.new_orchestrator_slice() for _ in range(12)]
    kodexa.set_faults(latencyMs=30_000, methods=["GET"])  # the list page: the worker is waiting for it when killed
    run = start_sync(ORCHESTRATOR_SLICE, full=True)
    first = start_worker(**QUICK_WORKER)
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING, timeout=30)
    run.refresh_from_db()
    assert run.worker.endswith(f":{first.pid}")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert start_sync(ORCHESTRATOR_SLICE, full=True).pk == run.pk  # still held by the run nobody carries out

    kodexa.clear_faults()
    start_worker(**QUICK_WORKER)
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.FAILED, timeout=30)
    run.refresh_from_db()
    assert run.finished_at is not None and run.worker in run.error and "start the sync again" in run.error
    assert sync_entries(run) == [AuditEntry.Outcome.FAILED]

    again = start_sync(ORCHESTRATOR_SLICE, full=True)
    assert again.pk != run.pk
    wait_for(lambda: SyncRun.objects.get(pk=again.pk).status == SyncRun.Status.SUCCEEDED, timeout=60)
    assert {record["id"] for record in records} <= set(OrchestratorSlice.objects.values_list("id", flat=True))
    assert sync_entries(run) == [AuditEntry.Outcome.FAILED]  # closed once


@pytest.mark.django_db
def test_only_runs_of_workers_that_stopped_beating_are_closed(settings):
    settings.WORKER_HEARTBEAT_STALE_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=10)

    def running(worker: str) -> SyncRun:
        return SyncRun.objects.create(
            resource=ORCHESTRATOR_SLICE.path, status=SyncRun.Status.RUNNING, started_at=long_ago, worker=worker
        )

    alive, silent, gone, by_command = running("host:1"), running("host:2"), running("host:3"), running("")
    WorkerHeartbeat.objects.create(worker_id="host:1", started_at=long_ago, seen_at=timezone.now())
    WorkerHeartbeat.objects.create(worker_id="host:2", started_at=long_ago, seen_at=long_ago)

    assert sorted(fail_orphaned_runs()) == sorted([silent.pk, gone.pk])
    assert fail_orphaned_runs() == []  # once
    states = dict(SyncRun.objects.values_list("pk", "status"))
    assert states[alive.pk] == states[by_command.pk] == SyncRun.Status.RUNNING
    assert states[silent.pk] == states[gone.pk] == SyncRun.Status.FAILED
    assert sync_entries(silent) == sync_entries(gone) == [AuditEntry.Outcome.FAILED]
    assert sync_entries(alive) == []
