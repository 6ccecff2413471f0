"""Records as the platform checks and completes them: defaults and server stamps on create, field types and
business rules on create and PUT, and a PUT that must carry every field."""

import uuid
from datetime import UTC, datetime

import pytest

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from tests.sandbox.conftest import EXECUTION, ORCHESTRATOR, created_orchestrator_slice, parse


def test_created_execution_slice_is_answered_201_with_every_field_filled_in(sandbox):
    before = datetime.now(UTC)
    response = sandbox.post(
        EXECUTION, json={"executionId": "exec-1", "changeSequence": 7, "createdOn": "2020-01-01T00:00:00Z", "extra": 1}
    )
    assert response.status_code == 201
    record = response.json()
    assert list(record) == list(EXECUTION_SLICE.wire_names)
    assert uuid.UUID(record["id"]).version == 4
    assert uuid.UUID(record["uuid"]).version == 4
    assert record["changeSequence"] == 1
    assert record["createdOn"] == record["updatedOn"]
    assert record["createdOn"].endswith("Z")
    assert before.replace(microsecond=0) <= parse(record["createdOn"]) <= datetime.now(UTC)
    assert (record["attemptNumber"], record["sliceOrder"], record["status"]) == (1, 0, "PENDING")
    assert record["executionId"] == "exec-1"
    assert (record["moduleRuntimeRef"], record["organizationId"]) == ("", "")
    assert record["inputEvent"] == record["outputEvent"] == record["errorDetails"] == record["stepsConfig"] == {}
    assert record["completedAt"] is record["logGroup"] is record["durationMs"] is None


def test_created_orchestrator_slice_has_all_26_fields_and_created_at_equal_to_created_on(sandbox):
    record = created_orchestrator_slice(sandbox, stepStartOrder=2)
    assert list(record) == list(ORCHESTRATOR_SLICE.wire_names)
    assert record["createdAt"] == record["createdOn"]
    assert (record["stepStartOrder"], record["stepEndOrder"]) == (2, 2)


def test_date_times_are_stored_as_utc_instants_ending_in_z(sandbox):
    record = created_orchestrator_slice(
        sandbox, startedAt="2026-11-20T06:31:56.120+01:00", queuedAt="2026-11-20t05:31:50z"
    )
    assert record["startedAt"] == "2026-11-20T05:31:56.120Z"
    assert record["queuedAt"] == "2026-11-20T05:31:50Z"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attemptNumber", True, "must be an integer"),
        ("attemptNumber", 1.0, "must be an integer"),
        ("sliceOrder", "3", "must be an integer"),
        ("durationMs", 2**31, "must fit in a 32-bit signed integer"),
        ("status", 5, "must be a string"),
        ("status", None, "must not be null"),
        ("startedAt", "2026-11-20 05:31:56", "must be an RFC 3339 date-time"),
        ("startedAt", "2026-11-20T05:31:56", "must be an RFC 3339 date-time"),
        ("startedAt", 1700000000, "must be an RFC 3339 date-time"),
        ("inputEvent", [], "must be a JSON object"),
        ("inputEvent", None, "must not be null"),
    ],
)
def test_values_of_the_wrong_type_are_answered_400_per_field(sandbox, field, value, message):
    response = sandbox.post(EXECUTION, json={field: value})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Validation failed"
    assert body["errors"][field].startswith(message)


@pytest.mark.parametrize(
    ("fields", "wrong_field"),
    [
        ({"attemptNumber": -1}, "attemptNumber"),
        ({"sliceOrder": -1}, "sliceOrder"),
        ({"durationMs": -5}, "durationMs"),
        ({"stepStartOrder": 3, "stepEndOrder": 2}, "stepEndOrder"),
        ({"startedAt": "2026-11-20T05:31:56Z", "completedAt": "2026-11-20T05:31:55.999Z"}, "completedAt"),
        ({"status": ""}, "status"),
    ],
)
def test_business_rules_are_answered_400(sandbox, fields, wrong_field):
    response = sandbox.post(ORCHESTRATOR, json=fields)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [wrong_field]


def test_put_without_every_field_is_answered_400_naming_the_missing_ones(sandbox):
    stored = created_orchestrator_slice(sandbox)
    body = {name: value for name, value in stored.items() if name not in ("uuid", "stepsConfig")}
    response = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "stepsConfig": "is required (PUT replaces the whole record)",
        "uuid": "is required (PUT replaces the whole record)",
    }


def test_put_applies_type_checks_and_business_rules(sandbox):
    stored = created_orchestrator_slice(sandbox)
    path = f"{ORCHESTRATOR}/{stored['id']}"
    assert sandbox.put(path, json={**stored, "sliceOrder": "1"}).json()["errors"] == {
        "sliceOrder": "must be an integer"
    }
    rule_broken = sandbox.put(path, json={**stored, "stepStartOrder": 5, "stepEndOrder": 1})
    assert list(rule_broken.json()["errors"]) == ["stepEndOrder"]
    assert sandbox.get(path).json()["changeSequence"] == 1
