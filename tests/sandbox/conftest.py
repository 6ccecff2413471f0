"""The Kodexa sandbox under test: real processes started by its launcher, driven over HTTP with `requests`.

Most tests share one seeded sandbox (its faults are reset after each test); the ones about command line flags,
restarts and shutdown start their own with `start_sandbox`. The helpers below are imported by the test modules.
"""

import uuid
from datetime import datetime
from pathlib import Path

import pytest
import requests

from slices_admin.sandbox.launcher import SandboxProcess, launch

API_KEY = "test-sandbox-key"
SEEDED = 3000
ORCHESTRATOR = "/api/orchestrator-execution-slices"
EXECUTION = "/api/execution-slices"
START_TIMEOUT = 30


class Sandbox:
    """One sandbox process and a keyed HTTP session to it."""

    def __init__(self, running: SandboxProcess):
        self.running = running
        self.process = running.process
        self.base_url = running.url
        self.http = requests.Session()
        self.http.headers["x-api-key"] = running.api_key

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
        return self.running.stop()


def started_sandbox(data: Path, log: Path, *options: str) -> Sandbox:
    return Sandbox(launch(data, *options, api_key=API_KEY, log=log, timeout=START_TIMEOUT))


@pytest.fixture
def start_sandbox(tmp_path):
    """Start sandboxes of one's own: `start_sandbox(*options, data=path)`; all are stopped afterwards."""
    started = []

    def start(*options: str, data: Path | None = None) -> Sandbox:
        log = tmp_path / f"sandbox-{len(started)}.log"
        sandbox = started_sandbox(data or tmp_path / "sandbox.sqlite3", log, *options)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="package")
def shared_sandbox(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shared-sandbox")
    sandbox = started_sandbox(directory / "sandbox.sqlite3", directory / "log", "--seed", str(SEEDED))
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
