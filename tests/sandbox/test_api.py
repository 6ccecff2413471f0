"""The sandbox's API over HTTP: the key, routing, creating and reading slices, the PUT flow (conflicts, fields
outside the contract) and the control endpoints."""

import time
import uuid

import pytest
import requests

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from tests.sandbox.conftest import EXECUTION, ORCHESTRATOR, created_orchestrator_slice, full_orchestrator_body, parse


def test_health_answers_without_a_key(sandbox):
    response = requests.get(sandbox.url("/_sandbox/health"), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", [EXECUTION, f"{ORCHESTRATOR}/x", "/_sandbox/faults", "/_sandbox/stats"])
@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
def test_requests_without_the_right_key_are_answered_401(sandbox, path, headers):
    response = requests.get(sandbox.url(path), headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or missing API key"}
    assert response.headers["Content-Type"] == "application/json"


def test_unknown_routes_are_404_and_wrong_methods_are_405(sandbox):
    assert sandbox.get("/api/pipelines").status_code == 404
    assert "message" in sandbox.get("/api/pipelines").json()
    wrong_method = sandbox.request("DELETE", EXECUTION)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, POST"
    assert sandbox.put(f"{EXECUTION}/{uuid.uuid4()}", json={}).status_code == 405


def test_a_client_id_is_kept_and_a_taken_one_is_answered_409(sandbox):
    slice_id = str(uuid.uuid4())
    assert created_orchestrator_slice(sandbox, id=slice_id)["id"] == slice_id
    response = sandbox.post(ORCHESTRATOR, json={"id": slice_id})
    assert response.status_code == 409
    assert slice_id in response.json()["message"]


def test_a_created_slice_can_be_read_back_and_unknown_ids_are_404(sandbox):
    created = sandbox.post(EXECUTION, json={"status": "RUNNING"}).json()
    assert sandbox.get(f"{EXECUTION}/{created['id']}").json() == created
    missing = str(uuid.uuid4())
    response = sandbox.get(f"{ORCHESTRATOR}/{missing}")
    assert response.status_code == 404
    assert response.json() == {"message": f"OrchestratorExecutionSlice {missing} not found"}


def test_put_replaces_the_whole_record_and_bumps_the_change_sequence(sandbox):
    stored = created_orchestrator_slice(sandbox, inputEvent={"a": 1})
    time.sleep(0.002)
    body = {
        **stored,
        "status": "SUCCEEDED",
        "inputEvent": {},
        "createdOn": "2001-01-01T00:00:00Z",
        "createdAt": "2001-01-01T00:00:00Z",
    }
    response = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json=body)
    assert response.status_code == 200
    updated = response.json()
    assert updated["changeSequence"] == stored["changeSequence"] + 1
    assert (updated["status"], updated["inputEvent"]) == ("SUCCEEDED", {})
    assert (updated["createdOn"], updated["createdAt"]) == (stored["createdOn"], stored["createdAt"])
    assert parse(updated["updatedOn"]) > parse(stored["updatedOn"])
    assert sandbox.get(f"{ORCHESTRATOR}/{stored['id']}").json() == updated


def test_fields_outside_the_contract_are_ignored_by_default(sandbox):
    stored = created_orchestrator_slice(sandbox, priority=3)
    assert "priority" not in stored
    response = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json={**stored, "priority": 3})
    assert response.status_code == 200 and "priority" not in response.json()


def test_as_a_newer_platform_it_keeps_fields_outside_the_contract_and_a_put_replaces_them(sandbox):
    sandbox.put("/_sandbox/faults", json={"unknownFields": "keep"})
    stored = created_orchestrator_slice(sandbox, priority=3, labels={"team": "ingest"})
    assert (stored["priority"], stored["labels"]) == (3, {"team": "ingest"})
    kept = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json={**stored, "status": "SUCCEEDED", "priority": 4}).json()
    assert (kept["priority"], kept["labels"], kept["status"]) == (4, {"team": "ingest"}, "SUCCEEDED")
    contract_only = {name: kept[name] for name in ORCHESTRATOR_SLICE.wire_names}
    replaced = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json=contract_only).json()
    assert "priority" not in replaced and "labels" not in replaced  # a whole replacement without them
    assert sandbox.get(f"{ORCHESTRATOR}/{stored['id']}").json() == replaced


def test_it_can_refuse_fields_outside_the_contract_naming_each(sandbox):
    stored = created_orchestrator_slice(sandbox)
    sandbox.put("/_sandbox/faults", json={"unknownFields": "refuse"})
    response = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json={**stored, "priority": 1, "labels": {}})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"priority", "labels"}
    assert sandbox.put("/_sandbox/faults", json={"unknownFields": "sometimes"}).status_code == 400


def test_stale_change_sequence_is_answered_with_409(sandbox):
    stored = created_orchestrator_slice(sandbox)
    path = f"{ORCHESTRATOR}/{stored['id']}"
    assert sandbox.put(path, json={**stored, "status": "RUNNING"}).status_code == 200
    response = sandbox.put(path, json={**stored, "status": "FAILED"})
    assert response.status_code == 409
    assert response.json() == {"message": "Stale changeSequence: sent 1, current is 2", "currentChangeSequence": 2}
    assert sandbox.get(path).json()["status"] == "RUNNING"


def test_put_needs_a_uuid_path_id_of_a_known_slice_matching_the_body(sandbox):
    not_uuid = sandbox.put(f"{ORCHESTRATOR}/slice-1", json=full_orchestrator_body())
    assert (not_uuid.status_code, not_uuid.json()) == (400, {"message": "id must be a UUID"})
    unknown = full_orchestrator_body()
    assert sandbox.put(f"{ORCHESTRATOR}/{unknown['id']}", json=unknown).status_code == 404
    stored = created_orchestrator_slice(sandbox)
    mismatch = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json=full_orchestrator_body())
    assert mismatch.status_code == 400
    assert "id" in mismatch.json()["errors"]


def test_stats_count_api_requests_and_accepted_puts(sandbox):
    stored = created_orchestrator_slice(sandbox)
    before = sandbox.get("/_sandbox/stats").json()
    path = f"{ORCHESTRATOR}/{stored['id']}"
    accepted = sandbox.put(path, json=stored).json()
    sandbox.put(path, json=stored)  # stale: not counted as a PUT
    sandbox.put(path, json=accepted)
    after = sandbox.get("/_sandbox/stats").json()
    assert after["requests"] - before["requests"] == 3
    assert after["putCounts"][stored["id"]] == 2
    assert stored["id"] not in before["putCounts"]


def test_stats_give_the_count_and_the_first_and_last_moments_of_accepted_puts(start_sandbox):
    sandbox = start_sandbox()
    assert sandbox.get("/_sandbox/stats").json()["acceptedPuts"] == {"count": 0, "first": None, "last": None}
    stored = created_orchestrator_slice(sandbox)
    path = f"{ORCHESTRATOR}/{stored['id']}"
    began = time.monotonic()
    accepted = sandbox.put(path, json=stored).json()
    assert sandbox.put(path, json=stored).status_code == 409  # stale: not accepted
    time.sleep(0.05)
    sandbox.put(path, json=accepted)
    ended = time.monotonic()
    puts = sandbox.get("/_sandbox/stats").json()["acceptedPuts"]
    assert puts["count"] == 2
    assert 0.05 <= puts["last"] - puts["first"] <= ended - began


def test_a_put_applied_with_its_answer_lost_counts_as_accepted_as_in_put_counts(sandbox):
    stored = created_orchestrator_slice(sandbox)
    before = sandbox.get("/_sandbox/stats").json()["acceptedPuts"]["count"]
    sandbox.put("/_sandbox/faults", json={"lostAnswerRate": 1, "methods": ["PUT"]})
    assert sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json=stored).status_code == 504
    after = sandbox.get("/_sandbox/stats").json()
    assert (after["acceptedPuts"]["count"] - before, after["putCounts"][stored["id"]]) == (1, 1)


def test_seed_endpoint_appends_demo_data(start_sandbox):
    sandbox = start_sandbox()
    response = sandbox.post("/_sandbox/seed", json={"orchestratorSlices": 30, "executionSlices": 5, "seed": 3})
    assert (response.status_code, response.json()) == (201, {"orchestratorSlices": 30, "executionSlices": 5, "seed": 3})
    assert sandbox.post("/_sandbox/seed", json={"orchestratorSlices": 20}).json()["orchestratorSlices"] == 20
    assert sandbox.get(ORCHESTRATOR).json()["totalElements"] == 50
    assert sandbox.get(EXECUTION).json()["totalElements"] == 7
    assert sandbox.post("/_sandbox/seed", json={"orchestratorSlices": -1}).status_code == 400
