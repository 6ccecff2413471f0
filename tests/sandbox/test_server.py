"""The Kodexa sandbox, started as a real subprocess and driven over HTTP with `requests`.

Most tests share one seeded sandbox (its faults are reset after each test); the ones about command line flags,
restarts and shutdown start their own.
"""

import http.client
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "test-sandbox-key"
SEEDED = 3000
LISTENING = re.compile(r"Kodexa sandbox listening on (http://127\.0\.0\.1:\d+)\n")
ORCHESTRATOR = "/api/orchestrator-execution-slices"
EXECUTION = "/api/execution-slices"


class Sandbox:
    """One sandbox process and a keyed HTTP session to it."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
            )
        self.base_url = self._read_address()
        self.http = requests.Session()
        self.http.headers["x-api-key"] = API_KEY

    def _read_address(self) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        line = self.process.stdout.readline() if ready else ""
        match = LISTENING.fullmatch(line)
        if match is None:
            self.process.kill()
            pytest.fail(f"sandbox did not start: {line!r}\n{self.log.read_text()}")
        return match[1]

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.url(path), timeout=10, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: object = None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: object = None, **kwargs) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def stop(self) -> int:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return self.process.returncode


def sandbox_command(data: Path, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "slices_admin.sandbox",
        "--port",
        "0",
        "--data",
        str(data),
        "--api-key",
        API_KEY,
        *options,
    ]


@pytest.fixture
def start_sandbox(tmp_path):
    """Start sandboxes of one's own: `start_sandbox(*options, data=path)`; all are stopped afterwards."""
    started = []

    def start(*options: str, data: Path | None = None) -> Sandbox:
        log = tmp_path / f"sandbox-{len(started)}.log"
        sandbox = Sandbox(sandbox_command(data or tmp_path / "sandbox.sqlite3", *options), log)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shared-sandbox")
    sandbox = Sandbox(sandbox_command(directory / "sandbox.sqlite3", "--seed", str(SEEDED)), directory / "log")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(shared_sandbox):
    yield shared_sandbox
    shared_sandbox.request("DELETE", "/_sandbox/faults")


def all_pages(sandbox: Sandbox, path: str, **params) -> list[dict]:
    records, page = [], 1
    while True:
        body = sandbox.get(path, params={**params, "page": page, "pageSize": 1000}).json()
        records += body["content"]
        if body["last"]:
            return records
        page += 1


def full_orchestrator_body(**overrides) -> dict:
    body = {
        "attemptNumber": 1,
        "changeSequence": 1,
        "completedAt": None,
        "createdAt": "2026-11-20T05:31:56Z",
        "createdOn": "2026-11-20T05:31:56Z",
        "durationMs": None,
        "errorDetails": {},
        "errorMessage": None,
        "id": str(uuid.uuid4()),
        "inputEvent": {"documentFamilyId": "f-1"},
        "lambdaRequestId": None,
        "leaseExpiresAt": None,
        "leasedAt": None,
        "moduleRuntimeId": "runtime-1",
        "organizationId": "org-1",
        "outputEvent": {},
        "pipelineExecutionId": "pe-1",
        "queuedAt": "2026-11-20T05:31:57Z",
        "sliceOrder": 0,
        "startedAt": None,
        "status": "PENDING",
        "stepEndOrder": 1,
        "stepStartOrder": 0,
        "stepsConfig": {"steps": []},
        "updatedOn": "2026-11-20T05:31:56Z",
        "uuid": str(uuid.uuid4()),
    }
    return {**body, **overrides}


def created_orchestrator_slice(sandbox: Sandbox, **fields) -> dict:
    response = sandbox.post(ORCHESTRATOR, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- Authentication and plumbing -----------------------------------------------------------------------------------


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


def test_connections_are_kept_alive_across_requests(sandbox):
    address = urlsplit(sandbox.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    sockets = []
    for _ in range(3):
        connection.request("GET", EXECUTION, headers={"x-api-key": API_KEY})
        response = connection.getresponse()
        assert int(response.headers["Content-Length"]) == len(response.read())
        sockets.append(connection.sock)
    connection.close()
    assert sockets[0] is not None
    assert sockets == [sockets[0]] * 3


def test_unknown_routes_are_404_and_wrong_methods_are_405(sandbox):
    assert sandbox.get("/api/pipelines").status_code == 404
    assert "message" in sandbox.get("/api/pipelines").json()
    wrong_method = sandbox.request("DELETE", EXECUTION)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, POST"
    assert sandbox.put(f"{EXECUTION}/{uuid.uuid4()}", json={}).status_code == 405


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"", b'{"attemptNumber": NaN}'])
def test_bodies_that_are_not_json_objects_are_answered_400(sandbox, body):
    response = sandbox.request("POST", EXECUTION, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"]


# --- Create and read -----------------------------------------------------------------------------------------------


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


# --- Lists ---------------------------------------------------------------------------------------------------------


def test_a_list_answers_a_page_object(sandbox):
    body = sandbox.get(ORCHESTRATOR, params={"page": 2, "pageSize": 7}).json()
    total = body["totalElements"]
    assert total >= SEEDED
    assert body["totalPages"] == -(-total // 7)
    assert (body["number"], body["size"], body["numberOfElements"]) == (2, 7, 7)
    assert (body["first"], body["last"], body["empty"]) == (False, False, False)
    assert len(body["content"]) == 7
    assert set(body) == {
        "content",
        "totalElements",
        "totalPages",
        "number",
        "size",
        "numberOfElements",
        "first",
        "last",
        "empty",
    }


def test_a_page_past_the_end_is_empty_and_last(sandbox):
    body = sandbox.get(ORCHESTRATOR, params={"page": 10_000, "pageSize": 50}).json()
    assert (body["content"], body["numberOfElements"], body["empty"], body["last"]) == ([], 0, True, True)


def test_defaults_are_page_1_of_20_newest_first(sandbox):
    body = sandbox.get(ORCHESTRATOR, params={"query": "*"}).json()
    assert (body["number"], body["size"], body["first"]) == (1, 20, True)
    created = [parse(record["createdOn"]) for record in body["content"]]
    assert created == sorted(created, reverse=True)


def test_page_size_is_capped_at_1000(sandbox):
    body = sandbox.get(ORCHESTRATOR, params={"pageSize": 5000}).json()
    assert body["size"] == 1000
    assert body["numberOfElements"] == 1000


@pytest.mark.parametrize("sort", ["updatedOn,desc", "createdOn,asc", "sliceOrder,asc", "id,desc"])
def test_lists_sort_on_the_requested_field_with_stable_paging(sandbox, sort):
    field, direction = sort.split(",")
    records = all_pages(sandbox, ORCHESTRATOR, sort=sort)
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) == sandbox.get(ORCHESTRATOR).json()["totalElements"]
    keys = [(parse(r[field]) if field.endswith("On") else r[field], r["id"]) for r in records]
    assert keys == sorted(keys, reverse=direction == "desc")


def test_lists_filter_on_status_organization_and_parent_execution_and_search_text(sandbox):
    organization = f"org-{uuid.uuid4()}"
    for status in ("FAILED", "FAILED", "RUNNING"):
        created_orchestrator_slice(sandbox, organizationId=organization, status=status, pipelineExecutionId="pe-x")
    sandbox.post(EXECUTION, json={"organizationId": organization, "executionId": "exec-x"})
    failed = sandbox.get(ORCHESTRATOR, params={"filter": f"status eq 'FAILED' and organizationId eq '{organization}'"})
    assert failed.json()["totalElements"] == 2
    aliased = sandbox.get(ORCHESTRATOR, params={"filter": f"organization.id: '{organization}'"})
    assert aliased.json()["totalElements"] == 3
    by_execution = sandbox.get(
        EXECUTION, params={"filter": f"executionId eq 'exec-x' and organizationId eq '{organization}'"}
    )
    assert by_execution.json()["totalElements"] == 1
    searched = sandbox.get(ORCHESTRATOR, params={"query": organization})
    assert searched.json()["totalElements"] == 3


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "status = 'FAILED'"},
        {"filter": "status eq FAILED"},
        {"filter": "status eq 'FAILED' or status eq 'RUNNING'"},
        {"filter": "errorMessage eq 'x'"},
        {"sort": "status,asc"},
        {"sort": "createdOn,up"},
        {"page": "0"},
        {"pageSize": "ten"},
    ],
)
def test_malformed_list_parameters_are_answered_400(sandbox, params):
    response = sandbox.get(ORCHESTRATOR, params=params)
    assert response.status_code == 400
    assert response.json()["message"]


def test_thousand_row_pages_hold_every_slice_once(sandbox):
    """Pages of 1,000, as a sync reads them. How fast they come is `make bench`'s sync figure, not a test's."""
    ids = [record["id"] for record in all_pages(sandbox, ORCHESTRATOR)]
    assert len(ids) == len(set(ids)) == sandbox.get(ORCHESTRATOR).json()["totalElements"] >= SEEDED


# --- PUT -----------------------------------------------------------------------------------------------------------


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


def test_put_without_every_field_is_answered_400_naming_the_missing_ones(sandbox):
    stored = created_orchestrator_slice(sandbox)
    body = {name: value for name, value in stored.items() if name not in ("uuid", "stepsConfig")}
    response = sandbox.put(f"{ORCHESTRATOR}/{stored['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "stepsConfig": "is required (PUT replaces the whole record)",
        "uuid": "is required (PUT replaces the whole record)",
    }


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


def test_put_applies_type_checks_and_business_rules(sandbox):
    stored = created_orchestrator_slice(sandbox)
    path = f"{ORCHESTRATOR}/{stored['id']}"
    assert sandbox.put(path, json={**stored, "sliceOrder": "1"}).json()["errors"] == {
        "sliceOrder": "must be an integer"
    }
    rule_broken = sandbox.put(path, json={**stored, "stepStartOrder": 5, "stepEndOrder": 1})
    assert list(rule_broken.json()["errors"]) == ["stepEndOrder"]
    assert sandbox.get(path).json()["changeSequence"] == 1


# --- Persistence and process ---------------------------------------------------------------------------------------


def test_records_and_changes_survive_a_restart(start_sandbox, tmp_path):
    data = tmp_path / "kept.sqlite3"
    first = start_sandbox(data=data)
    stored = created_orchestrator_slice(first, status="PENDING")
    updated = first.put(f"{ORCHESTRATOR}/{stored['id']}", json={**stored, "status": "RUNNING"}).json()
    assert first.stop() == 0
    second = start_sandbox(data=data)
    assert second.get(f"{ORCHESTRATOR}/{stored['id']}").json() == updated
    assert second.get("/_sandbox/stats").json()["putCounts"] == {stored["id"]: 1}


def test_sigterm_stops_the_server_with_exit_status_0(start_sandbox):
    sandbox = start_sandbox()
    sandbox.get(EXECUTION)
    sandbox.process.send_signal(signal.SIGTERM)
    assert sandbox.process.wait(timeout=10) == 0


def test_seed_flag_only_seeds_an_empty_store(start_sandbox, tmp_path):
    data = tmp_path / "seeded.sqlite3"
    first = start_sandbox("--seed", "40", data=data)
    assert first.get(ORCHESTRATOR).json()["totalElements"] == 40
    assert first.get(EXECUTION).json()["totalElements"] == 4
    first.stop()
    second = start_sandbox("--seed", "40", data=data)
    assert second.get(ORCHESTRATOR).json()["totalElements"] == 40


def test_management_command_uses_the_settings_key_and_data_file(tmp_path):
    env = {**os.environ, "KODEXA_API_KEY": API_KEY, "KODEXA_SANDBOX_DATA": str(tmp_path / "settings.sqlite3")}
    command = [sys.executable, "manage.py", "kodexa_sandbox", "--port", "0", "--skip-checks"]
    sandbox = Sandbox(command, tmp_path / "command.log", env=env)
    try:
        assert sandbox.post(EXECUTION, json={}).status_code == 201
    finally:
        assert sandbox.stop() == 0
    assert (tmp_path / "settings.sqlite3").exists()


# --- Faults --------------------------------------------------------------------------------------------------------


def test_error_rate_flag_answers_503_to_api_requests_only(start_sandbox):
    sandbox = start_sandbox("--error-rate", "1")
    response = sandbox.get(EXECUTION)
    assert (response.status_code, response.json()) == (503, {"message": "Service temporarily unavailable"})
    assert sandbox.get("/_sandbox/faults").json()["errorRate"] == 1


def test_rate_limit_flag_answers_429_with_retry_after(start_sandbox):
    sandbox = start_sandbox("--rate-limit-rate", "1", "--retry-after", "7")
    response = sandbox.post(EXECUTION, json={})
    assert (response.status_code, response.json()) == (429, {"message": "Too many requests"})
    assert response.headers["Retry-After"] == "7"
    sandbox.request("DELETE", "/_sandbox/faults")
    assert sandbox.get(EXECUTION).json()["totalElements"] == 0


def test_latency_flag_delays_every_answer(start_sandbox):
    sandbox = start_sandbox("--latency-ms", "300")
    started = time.perf_counter()
    assert sandbox.get(EXECUTION).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_timeout_flag_hangs_then_answers_504(start_sandbox):
    sandbox = start_sandbox("--timeout-rate", "1", "--timeout-seconds", "0.3")
    started = time.perf_counter()
    response = sandbox.get(EXECUTION)
    assert time.perf_counter() - started >= 0.3
    assert (response.status_code, response.json()) == (504, {"message": "Gateway timeout"})


def test_invalid_fault_flags_stop_the_process_with_a_message(tmp_path):
    result = subprocess.run(
        sandbox_command(tmp_path / "x.sqlite3", "--error-rate", "1.5"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "errorRate" in result.stderr


def test_fail_next_is_consumed_in_order_by_matching_requests_and_changes_nothing(sandbox):
    stored = created_orchestrator_slice(sandbox)
    path = f"{ORCHESTRATOR}/{stored['id']}"
    queue = [{"status": 503, "count": 2, "method": "PUT"}, {"status": 429, "retryAfter": 4}, {"status": "timeout"}]
    sandbox.put("/_sandbox/faults", json={"failNext": queue, "timeoutSeconds": 0.1})
    assert sandbox.put(path, json=stored).status_code == 503
    assert sandbox.get(path).status_code == 429  # the first entry only matches PUTs
    assert sandbox.put(path, json=stored).status_code == 503
    assert sandbox.get(path).status_code == 504
    assert sandbox.get("/_sandbox/faults").json()["failNext"] == []
    assert sandbox.get(path).json()["changeSequence"] == 1
    assert sandbox.put(path, json=stored).status_code == 200


def test_a_rate_limit_in_fail_next_sends_the_default_retry_after(sandbox):
    sandbox.put("/_sandbox/faults", json={"failNext": [{"status": 429}], "retryAfter": 2})
    response = sandbox.get(EXECUTION)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")


def test_random_faults_only_hit_the_configured_methods(sandbox):
    sandbox.put("/_sandbox/faults", json={"errorRate": 1, "methods": ["put"]})
    assert sandbox.get(EXECUTION).status_code == 200
    stored_id = sandbox.get(ORCHESTRATOR).json()["content"][0]["id"]
    assert sandbox.put(f"{ORCHESTRATOR}/{stored_id}", json={}).status_code == 503


def test_seeded_random_faults_repeat(sandbox):
    def outcomes() -> list[int]:
        sandbox.put("/_sandbox/faults", json={"errorRate": 0.3, "rateLimitRate": 0.3, "seed": 42})
        return [sandbox.get(f"{EXECUTION}?pageSize=1").status_code for _ in range(20)]

    first = outcomes()
    assert set(first) == {200, 429, 503}
    assert outcomes() == first


@pytest.mark.parametrize(
    "settings",
    [
        {"errorRate": 1.5},
        {"errorRate": 0.6, "timeoutRate": 0.6},
        {"latencyMs": -1},
        {"retryAfter": 1.5},
        {"methods": ["FETCH"]},
        {"failNext": [{"status": 200}]},
        {"failNext": [{"status": 503, "count": 0}]},
        {"failNext": {"status": 503}},
        {"seed": "abc"},
        {"errorRat": 0.1},
    ],
)
def test_bad_fault_settings_are_answered_400_and_change_nothing(sandbox, settings):
    response = sandbox.put("/_sandbox/faults", json=settings)
    assert response.status_code == 400
    assert response.json()["errors"]
    assert sandbox.get("/_sandbox/faults").json()["errorRate"] == 0


def test_fault_settings_are_updated_partially_and_reset_by_delete(sandbox):
    updated = sandbox.put("/_sandbox/faults", json={"latencyMs": 5, "latencyJitterMs": 2}).json()
    assert (updated["latencyMs"], updated["latencyJitterMs"], updated["timeoutSeconds"]) == (5, 2, 30)
    again = sandbox.put("/_sandbox/faults", json={"errorRate": 0.1}).json()
    assert (again["latencyMs"], again["errorRate"]) == (5, 0.1)
    reset = sandbox.request("DELETE", "/_sandbox/faults").json()
    assert reset == {
        "latencyMs": 0,
        "latencyJitterMs": 0,
        "errorRate": 0,
        "timeoutRate": 0,
        "timeoutSeconds": 30,
        "rateLimitRate": 0,
        "lostAnswerRate": 0,
        "retryAfter": 1,
        "methods": ["DELETE", "GET", "PATCH", "POST", "PUT"],
        "failNext": [],
        "seed": None,
        "unknownFields": "drop",
    }


# --- Control endpoints and seed data -------------------------------------------------------------------------------


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


def test_seed_endpoint_appends_demo_data(start_sandbox):
    sandbox = start_sandbox()
    response = sandbox.post("/_sandbox/seed", json={"orchestratorSlices": 30, "executionSlices": 5, "seed": 3})
    assert (response.status_code, response.json()) == (201, {"orchestratorSlices": 30, "executionSlices": 5, "seed": 3})
    assert sandbox.post("/_sandbox/seed", json={"orchestratorSlices": 20}).json()["orchestratorSlices"] == 20
    assert sandbox.get(ORCHESTRATOR).json()["totalElements"] == 50
    assert sandbox.get(EXECUTION).json()["totalElements"] == 7
    assert sandbox.post("/_sandbox/seed", json={"orchestratorSlices": -1}).status_code == 400


def test_seed_data_looks_like_production(sandbox):
    now = datetime.now(UTC)
    seeded = [record for record in all_pages(sandbox, ORCHESTRATOR) if record["moduleRuntimeId"]]  # not a test's
    assert len(seeded) == SEEDED
    statuses = Counter(record["status"] for record in seeded)
    assert set(statuses) >= {"SUCCEEDED", "FAILED", "RUNNING", "PENDING", "REQUESTED", "SKIPPED", "CANCELLED"}
    assert statuses.most_common(1)[0][0] == "SUCCEEDED"
    running = [r for r in seeded if r["status"] == "RUNNING"]
    expired = [r for r in running if r["completedAt"] is None and parse(r["leaseExpiresAt"]) < now]
    assert 0 < len(expired) < len(running)
    failed = [r for r in seeded if r["status"] == "FAILED"]
    assert all(r["errorMessage"] and {"type", "traceback", "retryable"} <= set(r["errorDetails"]) for r in failed)
    assert len({r["errorMessage"] for r in failed}) >= 10
    executions = Counter(r["pipelineExecutionId"] for r in seeded)
    assert 10 <= len(seeded) / len(executions) <= 20
    assert len({r["organizationId"] for r in seeded}) == 6
    for record in seeded:
        moments = [
            parse(record[name])
            for name in ("createdOn", "queuedAt", "leasedAt", "startedAt", "completedAt")
            if record[name]
        ]
        assert moments == sorted(moments)
        assert record["stepStartOrder"] <= record["stepEndOrder"]
        assert 1 <= record["attemptNumber"] <= 3
    execution_slices = all_pages(sandbox, EXECUTION, filter=f"organizationId eq '{seeded[0]['organizationId']}'")
    started = [r for r in execution_slices if r["startedAt"]]
    assert started and all(r["logGroup"].startswith("/aws/lambda/") and r["logStream"] for r in started)


def test_a_lost_answer_is_applied_but_answered_504(sandbox):
    record = sandbox.post("/api/orchestrator-execution-slices", json={"status": "FAILED"}).json()
    sandbox.put("/_sandbox/faults", json={"lostAnswerRate": 1, "methods": ["PUT"]})
    lost = sandbox.put(f"/api/orchestrator-execution-slices/{record['id']}", json={**record, "status": "PENDING"})
    sandbox.request("DELETE", "/_sandbox/faults")
    assert lost.status_code == 504
    current = sandbox.get(f"/api/orchestrator-execution-slices/{record['id']}").json()
    assert (current["status"], current["changeSequence"]) == ("PENDING", record["changeSequence"] + 1)
