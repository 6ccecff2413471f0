"""Bulk edits through the pages and the JSON API, and worked by real `db_worker` processes (one killed mid-job)."""

import os
import signal

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from slices_admin.bulk.models import BulkEditJob
from tests.support import wait_for

HTMX = {"HTTP_HX_REQUEST": "true"}
ORCH = "orchestrator-execution-slices"


def form_data(records, **extra) -> dict:
    return {
        "scope": "filter",
        "filter": f"pipelineExecutionId={records[0]['pipelineExecutionId']}",
        "target_status": "PENDING",
        "error_mode": "keep",
        "reason": "re-queue after the outage",
        **extra,
    }


# --- pages --------------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_operator_sees_row_checkboxes_and_the_bulk_bar_a_viewer_does_not(kodexa, failed_slices, as_role, client):
    records = failed_slices(3)
    url = reverse("slices:list", args=["orchestrator"]) + f"?pipelineExecutionId={records[0]['pipelineExecutionId']}"
    body = as_role("operator").get(url).content.decode()
    assert body.count("data-row-select") == 3 and "Bulk edit all 3 matching" in body
    assert f'name="filter" value="pipelineExecutionId={records[0]["pipelineExecutionId"]}"' in body
    client.logout()
    body = as_role("viewer").get(url).content.decode()
    assert "data-row-select" not in body and "bulk-form" not in body


@pytest.mark.django_db
def test_the_lists_selection_arrives_by_post_on_the_form(kodexa, failed_slices, as_role):
    records = failed_slices(3)
    ids = [r["id"] for r in records[:2]]
    response = as_role("operator").post(reverse("bulk:new"), {"scope": "ids", "ids": ids, "filter": "x=1"})
    body = response.content.decode()
    assert response.status_code == 200 and "<strong>2 slices</strong>" in body and "2 selected slices</bdi>." in body
    assert all(f'value="{i}"' in body for i in ids) and not BulkEditJob.objects.exists()


@pytest.mark.django_db
def test_the_preview_page_shows_what_will_happen_and_sends_nothing(kodexa, failed_slices, as_role):
    records = failed_slices(4)
    before = kodexa.request_count()
    response = as_role("operator").post(reverse("bulk:new"), form_data(records, step="preview"), **HTMX)
    body = response.content.decode()
    assert "4</strong> will change to" in body and "Start: set 4 slices to PENDING" in body
    assert kodexa.request_count() == before and not BulkEditJob.objects.exists()


@pytest.mark.django_db
def test_a_missing_reason_is_a_field_error_and_nothing_starts(kodexa, failed_slices, as_role):
    records = failed_slices(2)
    response = as_role("operator").post(reverse("bulk:new"), form_data(records, reason="  ", step="run"), **HTMX)
    assert "Say why" in response.content.decode()
    assert not BulkEditJob.objects.exists()


@pytest.mark.django_db
def test_a_large_edit_needs_the_typed_count(kodexa, failed_slices, as_role, settings):
    settings.BULK_CONFIRM_THRESHOLD = 2
    records = failed_slices(3)
    client = as_role("operator")
    refused = client.post(reverse("bulk:new"), form_data(records, step="run"), **HTMX)
    assert "Type 3" in refused.content.decode() and not BulkEditJob.objects.exists()
    started = client.post(reverse("bulk:new"), form_data(records, step="run", confirm_count="3"), **HTMX)
    job = BulkEditJob.objects.get()
    assert started["HX-Redirect"] == reverse("bulk:detail", args=[job.pk])
    assert job.items.count() == 3 and job.created_by.username.startswith("operator")


@pytest.mark.django_db
def test_a_viewer_can_start_cancel_or_follow_up_nothing(kodexa, failed_slices, as_role):
    records = failed_slices(2)
    client = as_role("viewer")
    before = kodexa.request_count()
    assert client.get(reverse("bulk:new")).status_code == 403
    assert client.post(reverse("bulk:new"), form_data(records, step="run")).status_code == 403
    assert client.post(reverse("bulk:cancel", args=[1])).status_code == 403
    assert client.post(reverse("bulk:follow-up", args=[1, "retry"])).status_code == 403
    assert not BulkEditJob.objects.exists() and kodexa.request_count() == before


@pytest.mark.django_db
def test_a_finished_job_stops_the_polling_and_reloads_once(kodexa, failed_slices, as_role):
    records = failed_slices(1)
    client = as_role("operator")
    client.post(reverse("bulk:new"), form_data(records, step="run"), **HTMX)
    job = BulkEditJob.objects.get()
    polling = client.get(reverse("bulk:progress", args=[job.pk]), **HTMX)
    assert polling.status_code == 200 and 'hx-trigger="every 1s"' in polling.content.decode()
    BulkEditJob.objects.filter(pk=job.pk).update(state="finished")
    done = client.get(reverse("bulk:progress", args=[job.pk]), **HTMX)
    assert done.status_code == 286 and done["HX-Refresh"] == "true"


# --- JSON API -----------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_api_dry_run_previews_and_creates_nothing(kodexa, failed_slices, api):
    records = failed_slices(3)
    body = {"filter": {"pipelineExecutionId": records[0]["pipelineExecutionId"]}, "targetStatus": "PENDING",
            "reason": "fix", "dryRun": True}  # fmt: skip
    response = api("operator").post("/api/v1/bulk-edits", body, format="json")
    assert response.status_code == 200
    assert (response.json()["toChange"], response.json()["beforeStatuses"]) == (3, {"FAILED": 3})
    assert not BulkEditJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": ["x"], "targetStatus": "PENDING"}, "reason"),
        ({"ids": ["x"], "targetStatus": "EXPLODED", "reason": "r"}, "targetStatus"),
        ({"ids": ["x"], "filter": {}, "targetStatus": "PENDING", "reason": "r"}, "filter"),
        ({"targetStatus": "PENDING", "reason": "r"}, "filter"),
        ({"filter": {"stauts": ["FAILED"]}, "targetStatus": "PENDING", "reason": "r"}, "filter"),
        ({"filter": {}, "targetStatus": "PENDING", "reason": "r"}, "filter"),
        ({"ids": ["a\nb"], "targetStatus": "PENDING", "reason": "r"}, "ids"),
    ],
)
def test_api_refuses_bad_requests_field_by_field(kodexa, api, body, field):
    response = api("operator").post("/api/v1/bulk-edits", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not BulkEditJob.objects.exists()


@pytest.mark.django_db
def test_api_refuses_a_viewer(kodexa, api):
    body = {"ids": ["x"], "targetStatus": "PENDING", "reason": "r"}
    assert api("viewer").post("/api/v1/bulk-edits", body, format="json").status_code == 403


# --- real workers -------------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_job_created_through_the_api_is_worked_by_a_worker_process(kodexa, failed_slices, api, start_worker):
    records = failed_slices(6)
    client = api("operator")
    body = {"ids": [r["id"] for r in records], "targetStatus": "CANCELLED", "errorMessage": "", "reason": "stop"}
    created = client.post("/api/v1/bulk-edits", body, format="json")
    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    start_worker()
    wait_for(lambda: client.get(f"/api/v1/bulk-edits/{job_id}").json()["state"] == "finished")
    progress = client.get(f"/api/v1/bulk-edits/{job_id}").json()
    assert progress["counts"]["succeeded"] == 6 and progress["done"] == 6
    items = client.get(f"/api/v1/bulk-edits/{job_id}/items", {"state": "succeeded"}).json()["results"]
    assert len(items) == 6 and all(i["attempts"] == 1 for i in items)
    for record in records:
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["errorMessage"]) == ("CANCELLED", None)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_job_is_replaced_and_no_item_is_lost_or_applied_twice(
    kodexa, failed_slices, api, start_worker
):
    records = failed_slices(60)
    client = api("operator")
    body = {"ids": [r["id"] for r in records], "targetStatus": "PENDING", "reason": "crash test", "confirmCount": 60}
    job_id = client.post("/api/v1/bulk-edits", body, format="json").json()["id"]
    BulkEditJob.objects.filter(pk=job_id).update(concurrency=4)
    kodexa.set_faults(latencyMs=120, methods=["PUT"])
    timing = {"BULK_STALE_AFTER_SECONDS": "2", "BULK_SWEEP_SECONDS": "0.5", "BULK_HEARTBEAT_SECONDS": "0.3"}
    first = start_worker(**timing)
    job = BulkEditJob.objects.get(pk=job_id)
    wait_for(lambda: job.items.filter(state="succeeded").count() >= 12)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert job.items.exclude(state__in=["succeeded"]).exists(), "the kill should have left work behind"
    start_worker(**timing)
    wait_for(lambda: BulkEditJob.objects.get(pk=job_id).state == "finished", timeout=90)
    job.refresh_from_db()
    assert job.resumed_count >= 1
    assert set(job.items.values_list("state", flat=True)) == {"succeeded"}
    put_counts = kodexa.call("GET", "/_sandbox/stats").json()["putCounts"]
    for record in records:
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["changeSequence"]) == ("PENDING", record["changeSequence"] + 1)
        assert put_counts[record["id"]] == 1
    for item in job.items.all():
        entries = AuditEntry.objects.filter(bulk_job_id=job_id, remote_id=item.slice_id, action="update").count()
        assert entries == item.attempts


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_job_and_the_survivor_takes_over_when_one_is_killed(
    kodexa, failed_slices, api, start_worker, settings
):
    settings.BULK_RUNNERS_PER_JOB = 2  # two runner tasks for the job, one for each worker
    records = failed_slices(80)
    client = api("operator")
    body = {"ids": [r["id"] for r in records], "targetStatus": "PENDING", "reason": "two workers", "confirmCount": 80}
    job_id = client.post("/api/v1/bulk-edits", body, format="json").json()["id"]
    BulkEditJob.objects.filter(pk=job_id).update(concurrency=4)  # two threads a runner
    kodexa.set_faults(latencyMs=100, methods=["PUT"])
    timing = {
        "BULK_STALE_AFTER_SECONDS": "2",
        "BULK_SWEEP_SECONDS": "0.5",
        "BULK_HEARTBEAT_SECONDS": "0.3",
        "BULK_RUNNERS_PER_JOB": "2",
    }
    start_worker(**timing)
    doomed = start_worker(**timing)
    job = BulkEditJob.objects.get(pk=job_id)

    def runners_that_succeeded() -> set[str]:
        return set(job.items.filter(state="succeeded").values_list("runner_id", flat=True))

    wait_for(lambda: len(runners_that_succeeded()) == 2)  # both are working the same job
    assert job.runners.count() == 2
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert job.items.exclude(state="succeeded").exists(), "the kill should have left work behind"
    wait_for(lambda: BulkEditJob.objects.get(pk=job_id).state == "finished", timeout=90)

    job.refresh_from_db()
    assert job.resumed_count >= 1  # the survivor took the dead runner's items back
    assert set(job.items.values_list("state", flat=True)) == {"succeeded"}
    assert len(runners_that_succeeded()) >= 2
    put_counts = kodexa.call("GET", "/_sandbox/stats").json()["putCounts"]
    for record in records:
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["changeSequence"]) == ("PENDING", record["changeSequence"] + 1)
        assert put_counts[record["id"]] == 1  # nothing applied twice
    for item in job.items.all():
        entries = AuditEntry.objects.filter(bulk_job_id=job_id, remote_id=item.slice_id, action="update").count()
        assert entries == item.attempts


def _jobs_with_items(operator_user, count: int) -> None:
    from django.utils import timezone

    from slices_admin.bulk.models import BulkEditItem, BulkEditJob

    started = timezone.now()
    for n in range(count):
        job = BulkEditJob.objects.create(
            created_by=operator_user, selection={"ids": ["a", "b"]}, target_status="FAILED", reason=f"job {n}",
            concurrency=1, started_at=started,
        )  # fmt: skip
        BulkEditItem.objects.create(job=job, slice_id="a", state="succeeded", finished_at=timezone.now())
        BulkEditItem.objects.create(job=job, slice_id="b", state="pending")


def test_job_lists_ask_the_same_few_queries_however_many_jobs(api, make_user, as_role):
    """The page and the API list every job's progress from two grouped queries, not a query or two per job."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    operator_user, client, viewer = make_user("operator"), api("viewer"), as_role("viewer")

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as listed:
            answer = client.get("/api/v1/bulk-edits")
        with CaptureQueriesContext(connection) as paged:
            page = viewer.get("/bulk/")
        assert answer.status_code == page.status_code == 200
        return tuple(sum("bulk_bulk" in q["sql"] for q in c.captured_queries) for c in (listed, paged))

    _jobs_with_items(operator_user, 2)
    few = queries()
    _jobs_with_items(operator_user, 5)
    assert queries() == few
    documents = client.get("/api/v1/bulk-edits").json()["results"]
    assert len(documents) == 7
    assert all((d["total"], d["done"], d["counts"]["succeeded"]) == (2, 1, 1) for d in documents)
    assert all(d["ratePerSecond"] for d in documents)
    assert "2 slices · 1 succeeded" in viewer.get("/bulk/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_at_a_lower_cpu_priority_than_the_web(start_worker, settings):
    """Where workers share a machine with the web processes, the pages people wait for go first."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = min(19, ours + settings.WORKER_NICENESS)  # the kernel's lowest priority is 19
    assert lowered > ours, "run the tests at a niceness below 19 to see the worker lower its own"
    worker = start_worker()
    wait_for(lambda: worker.poll() is not None or os.getpriority(os.PRIO_PROCESS, worker.pid) == lowered, timeout=30)
    assert worker.poll() is None, "the worker exited"
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == lowered
