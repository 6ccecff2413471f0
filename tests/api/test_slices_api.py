"""The JSON API end to end: console → real HTTP → sandbox process, with cache and audit checked."""

import json
import logging
import uuid

import pytest
from django.db import connection

from slices_admin.audit.models import AuditEntry
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices import selectors
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice
from tests.factories import cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db

ORCH = "/api/v1/orchestrator-execution-slices"


def full_body(record: dict) -> dict:
    return {name: record[name] for name in ORCHESTRATOR_SLICE.wire_names}


def test_create_execution_slice_is_sent_cached_and_audited(kodexa, api):
    response = api("operator").post(
        "/api/v1/execution-slices",
        {"status": "PENDING", "executionId": "exec-1", "sliceOrder": 3, "inputEvent": {"doc": "d1"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    record = response.json()
    assert record["executionId"] == "exec-1" and record["inputEvent"] == {"doc": "d1"}
    assert kodexa.get("execution-slices", record["id"])["sliceOrder"] == 3
    row = ExecutionSlice.objects.get(id=record["id"])
    assert row.execution_id == "exec-1" and row.raw == record
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert (entry.action, entry.outcome, entry.response_status) == ("create", "succeeded", 201)
    assert entry.request_body["executionId"] == "exec-1"
    assert {"field": "executionId", "before": None, "after": "exec-1"} in entry.diff
    assert entry.request_id == response["X-Request-ID"]


def test_create_with_invalid_input_sends_nothing_and_writes_nothing(kodexa, api):
    before = kodexa.request_count()
    response = api("operator").post(
        "/api/v1/execution-slices/", {"sliceOrder": 2**31, "queuedAt": "noon", "colour": "red"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"sliceOrder", "queuedAt", "colour"}
    assert kodexa.request_count() == before
    assert not AuditEntry.objects.slice_changes().exists() and not ExecutionSlice.objects.exists()


def test_put_replaces_the_record_and_kodexa_increments_change_sequence(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    body = {**full_body(record), "status": "PENDING", "errorMessage": None}
    response = api("operator").put(f"{ORCH}/{record['id']}", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["changeSequence"] == record["changeSequence"] + 1
    assert kodexa.get("orchestrator-execution-slices", record["id"])["status"] == "PENDING"
    assert OrchestratorSlice.objects.get(id=record["id"]).status == "PENDING"
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert (entry.action, entry.outcome) == ("update", "succeeded")
    changed = {d["field"] for d in entry.diff}
    assert {"status", "changeSequence"} <= changed


def test_put_without_every_field_is_refused_naming_the_missing_ones(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    body = full_body(record)
    del body["stepEndOrder"], body["uuid"]
    before = kodexa.request_count()
    response = api("operator").put(f"{ORCH}/{record['id']}/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"stepEndOrder", "uuid"}
    assert kodexa.request_count() == before
    assert kodexa.put_count(record["id"]) == 0


def test_put_with_a_body_id_other_than_the_path_is_refused_before_sending(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    before = kodexa.request_count()
    body = {**full_body(record), "id": str(uuid.uuid4())}
    response = api("operator").put(f"{ORCH}/{record['id']}", body, format="json")
    assert response.status_code == 400 and "id" in response.json()
    assert kodexa.request_count() == before


def test_stale_change_sequence_is_a_conflict_with_the_current_version(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    theirs = kodexa.put(record, status="RUNNING")  # someone else changes it first
    mine = {**full_body(record), "status": "CANCELLED"}
    response = api("operator").put(f"{ORCH}/{record['id']}", mine, format="json")
    assert response.status_code == 409
    data = response.json()
    assert "Stale changeSequence" in json.dumps(data["upstream"])
    assert data["current"]["status"] == "RUNNING"
    assert data["current"]["changeSequence"] == theirs["changeSequence"]
    assert kodexa.get("orchestrator-execution-slices", record["id"])["status"] == "RUNNING"
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert (entry.outcome, entry.response_status) == ("conflict", 409)
    # The cache holds Kodexa's current version (read after the conflict), never the refused one.
    assert OrchestratorSlice.objects.get(id=record["id"]).status == "RUNNING"


def test_patch_merges_onto_the_freshest_copy(kodexa, api):
    record = kodexa.new_orchestrator_slice(errorMessage="boom")
    kodexa.put(record, attemptNumber=4)  # a change the console has never seen
    response = api("operator").patch(f"{ORCH}/{record['id']}", {"status": "PENDING"}, format="json")
    assert response.status_code == 200, response.json()
    now = kodexa.get("orchestrator-execution-slices", record["id"])
    assert (now["status"], now["attemptNumber"], now["errorMessage"]) == ("PENDING", 4, "boom")
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"], action="patch")
    assert entry.outcome == "succeeded"
    assert entry.before["attemptNumber"] == 4


def test_patch_with_the_change_sequence_the_caller_saw_detects_a_conflict(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    kodexa.put(record, status="RUNNING")
    body = {"status": "FAILED", "changeSequence": record["changeSequence"]}
    response = api("operator").patch(f"{ORCH}/{record['id']}", body, format="json")
    assert response.status_code == 409
    assert kodexa.get("orchestrator-execution-slices", record["id"])["status"] == "RUNNING"


def test_kodexa_validation_errors_pass_through_with_its_body(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    body = {**full_body(record), "stepStartOrder": 9, "stepEndOrder": 2}  # valid types, refused by Kodexa
    response = api("operator").put(f"{ORCH}/{record['id']}", body, format="json")
    assert response.status_code == 400
    assert "stepStartOrder" in json.dumps(response.json()["upstream"])
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert (entry.outcome, entry.response_status) == ("rejected", 400)


def test_unknown_slice_is_404_with_kodexas_answer(kodexa, api):
    missing = str(uuid.uuid4())
    response = api("operator").patch(f"{ORCH}/{missing}", {"status": "FAILED"}, format="json")
    assert response.status_code == 404
    assert missing in response.json()["upstream"]["message"]
    entry = AuditEntry.objects.slice_changes().get()
    assert (entry.action, entry.outcome, entry.remote_id, entry.response_status) == ("patch", "rejected", missing, 404)


def test_malformed_json_is_a_400_and_any_unknown_api_route_a_json_404(kodexa, api):
    client = api("operator")
    bad = client.generic("POST", "/api/v1/execution-slices", '{"status": NaN}', content_type="application/json")
    assert bad.status_code == 400
    missing = client.get(f"{ORCH}/not-a-uuid")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/json")
    broken_id = client.post("/api/v1/bulk-edits/1%0A2/approve", {"confirmCount": 1}, format="json")
    assert broken_id.status_code == 404 and broken_id.json() == {"detail": "Not found."}


def test_non_uuid_id_is_refused_without_calling_kodexa(kodexa, api):
    before = kodexa.request_count()
    response = api("operator").put(f"{ORCH}/not-a-uuid", {}, format="json")
    assert response.status_code in (400, 404)
    assert kodexa.request_count() == before


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_viewer_may_not_change_anything(kodexa, api, method):
    record = kodexa.new_orchestrator_slice()
    before = kodexa.request_count()
    client = api("viewer")
    if method == "post":
        response = client.post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    else:
        response = getattr(client, method)(f"{ORCH}/{record['id']}", full_body(record), format="json")
    assert response.status_code == 403
    assert kodexa.request_count() == before
    assert not AuditEntry.objects.slice_changes().exists()


def test_anonymous_requests_are_refused(kodexa, client):
    assert client.get(ORCH).status_code in (401, 403)
    assert client.post("/api/v1/execution-slices", {}, content_type="application/json").status_code in (
        401,
        403,
    )


def test_server_error_from_kodexa_is_502_and_audited(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    kodexa.set_faults(failNext=[{"status": 500, "count": 1, "method": "PUT"}])
    response = api("operator").put(f"{ORCH}/{record['id']}", full_body(record), format="json")
    assert response.status_code == 502
    assert kodexa.put_count(record["id"]) == 0
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert (entry.outcome, entry.response_status) == ("failed", 500)


def test_transient_503s_on_put_are_retried_and_applied_once(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    kodexa.set_faults(failNext=[{"status": 503, "count": 2, "method": "PUT"}])
    response = api("operator").put(f"{ORCH}/{record['id']}", full_body(record), format="json")
    assert response.status_code == 200
    assert kodexa.put_count(record["id"]) == 1
    assert AuditEntry.objects.slice_changes().filter(remote_id=record["id"]).count() == 1


def test_timeout_is_504_and_audited_without_an_answer(kodexa, api, settings):
    settings.KODEXA_MAX_RETRIES = 0
    settings.KODEXA_READ_TIMEOUT = 0.5
    kodexa.set_faults(timeoutSeconds=2, failNext=[{"status": "timeout", "count": 1, "method": "POST"}])
    response = api("operator").post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    assert response.status_code == 504
    entry = AuditEntry.objects.slice_changes().get()
    assert (entry.outcome, entry.response_status, entry.action) == ("failed", None, "create")
    assert not ExecutionSlice.objects.exists()


def test_rate_limit_beyond_the_wait_limit_is_429_with_retry_after(kodexa, api):
    kodexa.set_faults(failNext=[{"status": 429, "count": 3, "method": "POST", "retryAfter": 30}])
    response = api("operator").post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    assert response.status_code == 429
    assert response["Retry-After"] == "30"


def test_kodexa_refusing_the_key_is_502_and_never_shows_a_key(kodexa, api, settings):
    settings.KODEXA_API_KEY = "kx-wrong-key-0123456789"
    response = api("operator").post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    assert response.status_code == 502
    assert "API key" in response.json()["detail"]
    body = response.content.decode()
    assert "kx-wrong-key-0123456789" not in body and kodexa.api_key not in body


def test_kodexa_unreachable_is_502(kodexa, api, settings):
    settings.KODEXA_BASE_URL = "http://127.0.0.1:9"
    settings.KODEXA_MAX_RETRIES = 0
    response = api("operator").post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    assert response.status_code == 502
    assert AuditEntry.objects.slice_changes().get().outcome == "failed"


def test_lists_come_from_the_cache_with_filters_and_pages(kodexa, api):
    from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE as resource
    from slices_admin.slices.sync import sync_slices

    sync_slices(resource, page_size=100)
    client = api("viewer")
    failed = client.get(ORCH, {"status": "FAILED", "pageSize": 5}).json()
    assert failed["count"] == OrchestratorSlice.objects.filter(status="FAILED").count() > 0
    assert len(failed["results"]) == 5 and {r["status"] for r in failed["results"]} == {"FAILED"}
    one = failed["results"][0]
    by_pipeline = client.get(ORCH, {"pipelineExecutionId": one["pipelineExecutionId"]}).json()
    assert {r["pipelineExecutionId"] for r in by_pipeline["results"]} == {one["pipelineExecutionId"]}
    several = client.get(ORCH + "/", {"status": ["FAILED", "RUNNING"]}).json()
    assert several["count"] == OrchestratorSlice.objects.filter(status__in=["FAILED", "RUNNING"]).count()
    detail = client.get(f"{ORCH}/{one['id']}")
    assert detail.status_code == 200 and detail.json() == one


def test_a_list_counted_past_its_bound_says_its_count_is_not_exact_and_still_pages_to_the_end(api, monkeypatch):
    cache_orchestrator(*(orchestrator_record(status="FAILED") for _ in range(5)), orchestrator_record())
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 3)
    client = api("viewer")
    first = client.get(ORCH, {"status": "FAILED", "pageSize": 2}).json()
    assert (first["count"], first["countIsExact"], len(first["results"])) == (3, False, 2)
    assert first["previous"] is None and "page=2" in first["next"]
    second = client.get(first["next"]).json()
    last = client.get(second["next"]).json()
    assert len(last["results"]) == 1 and last["next"] is None and "page=2" in last["previous"]
    seen = [record["id"] for page in (first, second, last) for record in page["results"]]
    assert sorted(seen) == sorted(OrchestratorSlice.objects.filter(status="FAILED").values_list("id", flat=True))
    assert client.get(ORCH, {"status": "FAILED", "pageSize": 2, "page": 4}).status_code == 404


def test_a_list_with_few_matches_says_its_count_is_exact(api):
    cache_orchestrator(*(orchestrator_record(status="FAILED") for _ in range(3)), orchestrator_record())
    client = api("viewer")
    failed = client.get(ORCH, {"status": "FAILED"}).json()
    assert (failed["count"], failed["countIsExact"], failed["next"], failed["previous"]) == (3, True, None, None)
    every = client.get(ORCH).json()
    assert (every["count"], every["countIsExact"]) == (4, True)


def test_an_unfiltered_list_of_a_large_cache_gives_an_estimate_not_exact(api, monkeypatch):
    cache_orchestrator(*(orchestrator_record() for _ in range(6)))
    if connection.vendor == "postgresql":  # the estimate comes from statistics: gather them
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE slices_orchestratorslice")
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 3)
    answer = api("viewer").get(ORCH, {"pageSize": 4}).json()
    assert (answer["count"], answer["countIsExact"], len(answer["results"])) == (6, False, 4)


def test_a_page_number_past_any_list_is_a_404_and_one_that_is_no_number_a_400(api):
    client = api("viewer")
    assert client.get(ORCH, {"page": 10**30}).status_code == 404
    assert set(client.get(ORCH, {"page": "two"}).json()) == {"page"}


def test_audit_api_filters_newest_first(kodexa, api):
    operator = api("operator")
    record = kodexa.new_orchestrator_slice()
    operator.patch(f"{ORCH}/{record['id']}", {"status": "PENDING"}, format="json")
    operator.patch(f"{ORCH}/{record['id']}", {"status": "RUNNING"}, format="json")
    operator.post("/api/v1/execution-slices", {"status": "PENDING"}, format="json")
    entries = api("viewer").get("/api/v1/audit", {"objectId": record["id"]}).json()["results"]
    assert [e["action"] for e in entries] == ["patch", "patch"]
    assert entries[0]["after"]["status"] == "RUNNING"
    assert len(api("viewer").get("/api/v1/audit/", {"action": "create"}).json()["results"]) == 1
    assert api("viewer").get("/api/v1/audit", {"outcome": "conflict"}).json()["results"] == []


def test_the_api_key_never_appears_in_responses_audit_or_logs(kodexa, api, caplog):
    caplog.set_level(logging.DEBUG)
    operator = api("operator")
    record = kodexa.new_orchestrator_slice(inputEvent={"apiKey": "should-be-redacted", "doc": "d-1"})
    responses = [
        operator.patch(f"{ORCH}/{record['id']}", {"status": "PENDING"}, format="json"),
        operator.put(f"{ORCH}/{record['id']}", full_body(record), format="json"),  # a conflict now
        operator.post("/api/v1/execution-slices", {"stepsConfig": {"password": "hunter2-hunter2"}}, format="json"),
        api("viewer").get("/api/v1/audit"),
    ]
    for response in responses:
        assert kodexa.api_key not in response.content.decode()
    for entry in AuditEntry.objects.slice_changes():
        dumped = json.dumps([entry.request_body, entry.response_body, entry.before, entry.after, entry.error])
        assert kodexa.api_key not in dumped
        assert "should-be-redacted" not in dumped and "hunter2-hunter2" not in dumped
    assert caplog.records and all(kodexa.api_key not in record.getMessage() for record in caplog.records)
