"""Sync from Kodexa's list endpoint: paging edge cases against a scripted server, the real sandbox, the task."""

import pytest
from django.db import connection

from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import OrchestratorSlice, SyncRun
from slices_admin.slices.sync import perform_sync, sync_slices
from tests.factories import at, cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db


def page(content, number=1, last=True, total=None):
    return {
        "content": content, "number": number, "size": 2, "numberOfElements": len(content), "first": number == 1,
        "last": last, "empty": not content, "totalElements": total if total is not None else len(content),
        "totalPages": 1,
    }  # fmt: skip


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.KODEXA_MAX_RETRIES = 0


def test_an_empty_first_page_syncs_nothing_and_stops(scripted_kodexa):
    scripted_kodexa.answer(200, page([], last=False, total=0))
    progress = sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=2)
    assert (progress.pages, progress.records, progress.gone) == (1, 0, 0)
    assert len(scripted_kodexa.received) == 1


def test_pages_are_read_until_the_last_one(scripted_kodexa):
    a, b, c = (orchestrator_record() for _ in range(3))
    scripted_kodexa.answer(200, page([a, b], 1, last=False, total=3)).answer(200, page([c], 2, last=True, total=3))
    progress = sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=2)
    assert (progress.pages, progress.records, progress.expected) == (2, 3, 3)
    assert set(OrchestratorSlice.objects.values_list("id", flat=True)) == {a["id"], b["id"], c["id"]}
    assert (
        "sort=createdOn%2Casc" in scripted_kodexa.received[0]["path"]
        and "page=2" in scripted_kodexa.received[1]["path"]
    )


def test_incremental_sync_stops_once_it_reaches_what_the_last_sync_read(scripted_kodexa):
    known = orchestrator_record(id="known", updatedOn=at(100))
    scripted_kodexa.answer(200, page([known]))
    first = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path))
    assert first.newest_seen.isoformat().startswith("2026-11-01T13:40")
    # The console's own writes move the cache's newest updatedOn, but not where the next sync stops.
    cache_orchestrator(orchestrator_record(id="written-by-the-console", updatedOn=at(400)))
    newer = [orchestrator_record(updatedOn=at(300)), orchestrator_record(updatedOn=at(200))]
    reaching_back = [orchestrator_record(updatedOn=at(150)), known]
    scripted_kodexa.answer(200, page(newer, 1, last=False)).answer(200, page(reaching_back, 2, last=False))
    second = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path))
    assert second.pages == 2 and len(scripted_kodexa.received) == 3  # page 3 is never asked for
    assert "sort=updatedOn%2Cdesc" in scripted_kodexa.received[1]["path"]
    assert second.newest_seen > first.newest_seen
    assert OrchestratorSlice.objects.count() == 5


def test_a_sync_page_never_puts_an_older_version_in_the_cache(scripted_kodexa):
    record = orchestrator_record(changeSequence=5, status="CANCELLED")
    cache_orchestrator(record)
    scripted_kodexa.answer(200, page([{**record, "changeSequence": 4, "status": "RUNNING"}]))
    sync_slices(ORCHESTRATOR_SLICE)
    row = OrchestratorSlice.objects.get()
    assert (row.change_sequence, row.status) == (5, "CANCELLED")


def test_a_record_that_moved_between_pages_is_read_again_not_flagged_gone(scripted_kodexa):
    moved = orchestrator_record(status="RUNNING")
    cache_orchestrator(moved)
    listed = orchestrator_record()
    scripted_kodexa.answer(200, page([listed], 1, last=True))  # the listing missed `moved`
    scripted_kodexa.answer(200, {**moved, "status": "SUCCEEDED"})  # ...but reading it finds it, changed
    progress = sync_slices(ORCHESTRATOR_SLICE, full=True)
    assert progress.gone == 0
    row = OrchestratorSlice.objects.get(id=moved["id"])
    assert row.status == "SUCCEEDED" and row.gone_at is None
    assert scripted_kodexa.received[1]["path"] == f"/api/orchestrator-execution-slices/{moved['id']}"


def test_records_kodexa_no_longer_has_are_flagged_gone_and_kept(scripted_kodexa):
    gone, kept = orchestrator_record(), orchestrator_record()
    cache_orchestrator(gone, kept)
    scripted_kodexa.answer(200, page([kept])).answer(404, {"message": "not found"})
    progress = sync_slices(ORCHESTRATOR_SLICE, full=True)
    assert progress.gone == 1
    assert OrchestratorSlice.objects.get(id=gone["id"]).gone_at is not None
    assert OrchestratorSlice.objects.get(id=kept["id"]).gone_at is None


def test_a_record_that_returns_is_no_longer_flagged_gone(scripted_kodexa):
    record = orchestrator_record()
    cache_orchestrator(record)
    OrchestratorSlice.objects.update(gone_at="2026-01-01T00:00:00Z")
    scripted_kodexa.answer(200, page([record]))
    sync_slices(ORCHESTRATOR_SLICE, full=True)
    assert OrchestratorSlice.objects.get().gone_at is None


def test_a_passing_failure_while_confirming_does_not_flag_a_record(scripted_kodexa):
    record = orchestrator_record()
    cache_orchestrator(record)
    scripted_kodexa.answer(200, page([])).answer(503, {"message": "busy"})
    assert sync_slices(ORCHESTRATOR_SLICE, full=True).gone == 0
    assert OrchestratorSlice.objects.get().gone_at is None


def test_a_deployment_without_a_list_endpoint_gets_a_clear_message(scripted_kodexa):
    scripted_kodexa.answer(404, {"message": "No static resource api/orchestrator-execution-slices."})
    with pytest.raises(errors.KodexaNotSupported, match="no list endpoint"):
        sync_slices(ORCHESTRATOR_SLICE)
    scripted_kodexa.answer(405, None)
    run = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path))
    assert run.status == SyncRun.Status.FAILED and "no list endpoint" in run.error


def test_full_sync_from_the_sandbox_caches_everything_it_lists(kodexa):
    total = kodexa.call("GET", "/api/orchestrator-execution-slices", params={"pageSize": 1}).json()["totalElements"]
    run = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, mode="full"), page_size=100)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.records == total == OrchestratorSlice.objects.count()
    assert run.pages == -(-total // 100)
    one = OrchestratorSlice.objects.order_by("?").first()
    assert one.raw == kodexa.get("orchestrator-execution-slices", one.id)


def test_sync_command_records_its_run(kodexa):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("sync_slices", "--resource", "execution-slices", stdout=out)
    assert "records in" in out.getvalue()
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_sync_started_on_the_page_runs_in_a_worker_process_with_progress(kodexa, client, make_user):
    import os
    import subprocess
    import sys

    from django.db import connection
    from django.urls import reverse

    from tests.conftest import ROOT, database_url

    client.force_login(make_user("operator"))
    started = client.post(reverse("slices:sync-start", args=["orchestrator"]), {"mode": "full"}, HTTP_HX_REQUEST="true")
    assert started.status_code == 200 and "Syncing" in started.content.decode()
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.QUEUED and run.mode == "full"
    again = client.post(reverse("slices:sync-start", args=["orchestrator"]), {"mode": "full"}, HTTP_HX_REQUEST="true")
    assert again.status_code == 200 and SyncRun.objects.count() == 1  # one sync at a time per resource

    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "KODEXA_BASE_URL": kodexa.url,
        "KODEXA_API_KEY": kodexa.api_key,
        "KODEXA_SANDBOX": "1",
    }
    worker = [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay", "-v0"]
    subprocess.run(worker, cwd=ROOT, env=env, check=True, timeout=120)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.records == OrchestratorSlice.objects.count() > 0
    progress = client.get(reverse("slices:sync-progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert progress.status_code == 286  # tells htmx to stop polling
    assert "Synced" in progress.content.decode()


def test_a_viewer_cannot_start_a_sync(client, make_user):
    from django.urls import reverse

    client.force_login(make_user("viewer"))
    assert client.post(reverse("slices:sync-start", args=["orchestrator"])).status_code == 403
    assert not SyncRun.objects.exists()


def cut_the_connection() -> None:
    """PostgreSQL: the server ends this connection, as a restart does (the next statement fails). SQLite has no
    server to lose: its driver's error for a file gone bad stands in."""
    from django.db import OperationalError, connection

    if connection.vendor != "postgresql":
        raise OperationalError("disk I/O error")
    import psycopg

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params()) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.django_db(transaction=True)  # the run's own connection is the one that breaks
def test_a_sync_goes_on_after_the_database_dropped_its_connection(scripted_kodexa, monkeypatch):
    from slices_admin.audit.models import AuditEntry
    from slices_admin.core import database
    from slices_admin.slices import sync

    monkeypatch.setattr(database, "FIRST_WAIT", 0.01)
    a, b, c = (orchestrator_record() for _ in range(3))
    scripted_kodexa.answer(200, page([a, b], 1, last=False, total=3)).answer(200, page([c], 2, last=True, total=3))
    writes, real_write = [], sync._write_page

    def write_page(write):
        writes.append(write.records)
        if len(writes) == 2:  # page 2, first try
            cut_the_connection()
        return real_write(write)

    monkeypatch.setattr(sync, "_write_page", write_page)
    run = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, mode=SyncRun.Mode.FULL))

    assert writes == [2, 1, 1]  # page 2 (one record) written again, page 1 not
    assert (run.status, run.pages, run.records, run.expected, run.error) == (SyncRun.Status.SUCCEEDED, 2, 3, 3, "")
    assert set(OrchestratorSlice.objects.values_list("id", flat=True)) == {a["id"], b["id"], c["id"]}
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SYNC).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's way of writing a page")
@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_in_the_middle_of_a_pages_copy_is_waited_out(scripted_kodexa, monkeypatch):
    """The COPY runs on psycopg's own cursor, outside Django's error conversion: its lost connection must still be the
    OperationalError a sync waits out, not an error that fails the run."""
    import psycopg

    from slices_admin.core import database

    monkeypatch.setattr(database, "FIRST_WAIT", 0.01)
    records = [orchestrator_record() for _ in range(3)]
    scripted_kodexa.answer(200, page(records, 1, last=True, total=3))
    cuts, real_write_row = [], psycopg.Copy.write_row

    def write_row(self, row):
        if not cuts:
            cuts.append(True)
            cut_the_connection()
        return real_write_row(self, row)

    monkeypatch.setattr(psycopg.Copy, "write_row", write_row)
    run = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, mode=SyncRun.Mode.FULL))

    assert cuts == [True]
    assert (run.status, run.records, run.error) == (SyncRun.Status.SUCCEEDED, 3, "")
    assert set(OrchestratorSlice.objects.values_list("id", flat=True)) == {record["id"] for record in records}


@pytest.mark.django_db(transaction=True)
def test_a_sync_run_is_closed_and_audited_once_when_its_close_is_made_again(scripted_kodexa):
    """The close committed, and the connection was lost before its answer: the try again writes nothing more."""
    from django.utils import timezone

    from slices_admin.audit.models import AuditEntry
    from slices_admin.audit.services import AuditContext
    from slices_admin.slices.sync import _close_run

    run = SyncRun.objects.create(
        resource=ORCHESTRATOR_SLICE.path, status=SyncRun.Status.RUNNING, started_at=timezone.now()
    )
    closed = [
        _close_run(run, AuditContext.system("sync"), status="succeeded", error="", page_size=500) for _try in range(2)
    ]
    assert closed == [True, False]
    assert run.status == SyncRun.Status.SUCCEEDED and run.finished_at is not None
    assert AuditEntry.objects.filter(action=AuditEntry.Action.SYNC).count() == 1
