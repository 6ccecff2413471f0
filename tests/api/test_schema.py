"""The OpenAPI schema at /api/v1/schema: valid, behind sign-in, and in step with what the API serves (the documents'
fields, the contract's). `test_openapi.py` checks the live answers against it."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIRequestFactory

from slices_admin.api.bulk import BulkEditJobDocument, BulkEditPreview
from slices_admin.audit.documents import as_document
from slices_admin.audit.models import AuditEntry
from slices_admin.bulk import services
from slices_admin.bulk.changes import Change
from slices_admin.bulk.models import BulkEditJob
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def components(schema) -> dict:
    return schema["components"]["schemas"]


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_the_schema_needs_a_signed_in_user_with_a_role(api, client):
    assert client.get("/api/v1/schema").status_code == 401
    served = api("viewer").get("/api/v1/schema")
    assert served.status_code == 200 and served["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert served.json()["info"]["title"] == "Slices console API"
    yaml = api("viewer").get("/api/v1/schema", {"format": "yaml"})
    assert yaml.status_code == 200 and yaml.content.startswith(b"openapi: 3.")


def test_the_schema_holds_no_secret(api, settings):
    settings.KODEXA_API_KEY = "kx-secret-that-must-not-show"
    body = api("viewer").get("/api/v1/schema").content.decode()
    assert settings.KODEXA_API_KEY not in body and settings.SECRET_KEY not in body


@pytest.mark.parametrize(
    ("name", "resource"),
    [("ExecutionSlice", EXECUTION_SLICE), ("OrchestratorExecutionSlice", ORCHESTRATOR_SLICE)],
)
def test_a_record_is_described_field_by_field_from_the_contract(schema, name, resource):
    record = components(schema)[name]
    assert list(record["properties"]) == list(resource.wire_names)
    for field in resource.fields:
        assert record["properties"][field.wire_name].get("nullable", False) == field.nullable, field.wire_name
    assert record["additionalProperties"] is True  # Kodexa's fields outside the contract are kept


def test_request_bodies_refuse_unknown_fields_and_a_put_needs_every_one(schema):
    found = components(schema)
    for name in ("ExecutionSliceCreateRequest", "OrchestratorExecutionSlicePatchRequest", "BulkEditRequest"):
        assert found[name]["additionalProperties"] is False, name
    assert "required" not in found["ExecutionSliceCreateRequest"]
    assert found["OrchestratorExecutionSliceReplaceRequest"]["required"] == list(ORCHESTRATOR_SLICE.wire_names)
    put = schema["paths"]["/api/v1/orchestrator-execution-slices/{slice_id}"]["put"]
    assert put["requestBody"]["required"] is True


def test_the_documents_list_exactly_the_fields_the_api_sends(schema, make_user, failed_slices):
    found = components(schema)
    records = failed_slices(2)
    selection = services.Selection.from_ids([r["id"] for r in records])
    change = Change("PENDING", None, "schema")
    job = BulkEditJob.objects.create(
        created_by=make_user("operator"), selection=selection.to_json(), target_status="PENDING", reason="schema",
        concurrency=1,
    )  # fmt: skip
    request = APIRequestFactory().get("/api/v1/bulk-edits")
    rendered = BulkEditJobDocument(services.progress(job), context={"request": request}).data
    assert set(found["BulkEditJobDocument"]["properties"]) == set(rendered)
    assert set(found["BulkEditPreview"]["properties"]) == set(BulkEditPreview(services.preview(selection, change)).data)
    entry = AuditEntry.objects.first()
    assert entry is not None
    assert set(found["AuditEntry"]["properties"]) == set(as_document(entry))


def test_every_operation_documents_sign_in_and_role_refusals(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert {"401", "403"} <= set(operation["responses"]), f"{method.upper()} {path}"


@pytest.mark.parametrize("path", ["/api/v1/execution-slices", "/api/v1/orchestrator-execution-slices"])
def test_a_slice_list_documents_whether_its_count_is_exact(schema, path):
    answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = components(schema)[answer["$ref"].rpartition("/")[2]]
    assert page["required"] == ["count", "countIsExact", "next", "previous", "results"]
    assert page["properties"]["countIsExact"]["type"] == "boolean"
    assert "lower bound" in page["properties"]["count"]["description"]
