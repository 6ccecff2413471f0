"""The API against its own OpenAPI schema.

Schemathesis sends every operation of the schema requests it generates from it, valid and invalid, mutating ones
included, to the live console: a real server on 127.0.0.1 with the sandbox process behind it, as an operator with
an API token. Every answer must be no server error and have a status code, content type, headers and body that the
schema documents; every invalid request must be refused.

The schema is made when this module is collected (Schemathesis parametrizes one test per operation from it);
`test_the_served_schema_is_the_one_checked` shows it is the one `/api/v1/schema` serves.
"""

import json
import os
import uuid

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings

from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.slices.sync import sync_slices
from tests.conftest import start_sandbox, stop
from tests.factories import api_token

pytestmark = pytest.mark.django_db(transaction=True)

# Generated requests per operation and phase: the whole run stays near a minute. OPENAPI_MAX_EXAMPLES=200 (with
# HYPOTHESIS_PROFILE=explore for new examples each run) searches wider.
MAX_EXAMPLES = int(os.environ.get("OPENAPI_MAX_EXAMPLES", "25"))

# Records that exist on the sandbox and in the cache, for the operations whose path is pinned to them: generated ids
# would almost never name one, and only "not found" would be exercised.
ORCHESTRATOR_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "slices-console/openapi/orchestrator"))
EXECUTION_ID = "openapi-execution-1"
JOB_ID = 4242

# What is checked on every answer. Not `positive_data_acceptance`: a request the schema allows may still be refused
# by a rule no schema can state (a PUT's `id` must be its path's, a bulk edit must select some slice), with a 400.
# Nor the checks that need links between operations or several users (`use_after_free`, `ensure_resource_
# availability`, `object_level_authorization`).
CHECKS = {
    "not_a_server_error": {},
    "status_code_conformance": {},
    "content_type_conformance": {},
    "response_headers_conformance": {},
    "response_schema_conformance": {},
    "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "413", "415"]},
    "missing_required_header": {},
    "unsupported_method": {},
    "allow_header_conformance": {},
    "ignored_auth": {},
}
NOT_CHECKED = (
    "positive_data_acceptance",
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
)


def pinned(operation: str, *, body_id: str | None = None, **parameters) -> dict:
    """An operation's path parameters (and its body's `id`) pinned to a record that exists."""
    pins = {f"path.{name}": value for name, value in parameters.items()}
    if body_id is not None:
        pins["body.id"] = body_id
    return {"include-name": operation, "parameters": pins}


def generated_schema() -> dict:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


CONFIG = schemathesis.Config.from_dict(
    {
        "request-timeout": 20,
        "generation": {"max-examples": MAX_EXAMPLES},
        "checks": {**CHECKS, **{name: {"enabled": False} for name in NOT_CHECKED}},
        "operations": [
            pinned("GET /api/v1/execution-slices/{slice_id}", slice_id=EXECUTION_ID),
            pinned("GET /api/v1/orchestrator-execution-slices/{slice_id}", slice_id=ORCHESTRATOR_ID),
            pinned("PATCH /api/v1/orchestrator-execution-slices/{slice_id}", slice_id=ORCHESTRATOR_ID),
            pinned(
                "PUT /api/v1/orchestrator-execution-slices/{slice_id}",
                slice_id=ORCHESTRATOR_ID,
                body_id=ORCHESTRATOR_ID,
            ),
            pinned("GET /api/v1/bulk-edits/{job_id}", job_id=JOB_ID),
            pinned("GET /api/v1/bulk-edits/{job_id}/items", job_id=JOB_ID),
            pinned("POST /api/v1/bulk-edits/{job_id}/cancel", job_id=JOB_ID),
        ],
    }
)
schema = schemathesis.openapi.from_dict(generated_schema(), config=CONFIG)


@pytest.fixture(scope="module")
def fuzzed_sandbox(tmp_path_factory):
    """A sandbox of its own, with the pinned records: what the generated requests create and change stays out of
    other tests' way."""
    api_key = "kx-openapi-" + uuid.uuid4().hex[:12]
    running = start_sandbox(tmp_path_factory.mktemp("openapi-sandbox") / "sandbox.sqlite3", api_key, "--seed", "40")
    running.new_orchestrator_slice(id=ORCHESTRATOR_ID, uuid=ORCHESTRATOR_ID, status="FAILED")
    created = running.call("POST", "/api/execution-slices", json={"id": EXECUTION_ID, "status": "FAILED"})
    created.raise_for_status()
    yield running
    stop(running.process)


@pytest.fixture
def console(live_server, fuzzed_sandbox, settings, make_user) -> tuple[str, dict]:
    """The live console on that sandbox, its cache synced, with a bulk edit job: (base URL, auth headers)."""
    settings.KODEXA_BASE_URL = fuzzed_sandbox.url
    settings.KODEXA_API_KEY = fuzzed_sandbox.api_key
    settings.KODEXA_SANDBOX = True
    settings.KODEXA_READ_TIMEOUT = 2
    settings.KODEXA_MAX_RETRY_WAIT = 1
    fuzzed_sandbox.clear_faults()
    for resource in (ORCHESTRATOR_SLICE, EXECUTION_SLICE):
        sync_slices(resource, full=True, page_size=500)
    operator = make_user("operator")
    job = BulkEditJob.objects.create(
        pk=JOB_ID,
        created_by=operator,
        selection={"ids": [ORCHESTRATOR_ID]},
        target_status="PENDING",
        reason="schema check",
        concurrency=1,
    )
    BulkEditItem.objects.create(job=job, slice_id=ORCHESTRATOR_ID)
    return live_server.url, {"Authorization": f"Token {api_token(operator)}"}


def test_the_served_schema_is_the_one_checked(console):
    url, auth = console
    served = requests.get(f"{url}/api/v1/schema", headers=auth, timeout=30)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert served.json() == generated_schema()
    assert requests.get(f"{url}/api/v1/schema", timeout=30).status_code == 401


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the console is set up once an operation
def test_every_answer_is_as_the_schema_says(case, console):
    url, auth = console
    case.call_and_validate(base_url=url, headers=auth)
