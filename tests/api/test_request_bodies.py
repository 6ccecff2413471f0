"""Hostile request bodies to the JSON API: too large, malformed, not JSON at all. Each is refused with a clear
message and a 4xx, before anything is sent to Kodexa or written to the audit log."""

import pytest

from slices_admin.audit.models import AuditEntry
from slices_admin.bulk.models import BulkEditJob
from slices_admin.slices.models import ExecutionSlice

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/execution-slices"


def post_raw(client, path: str, body: bytes | str, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def assert_nothing_happened(kodexa, requests_before: int) -> None:
    assert kodexa.request_count() == requests_before
    assert not AuditEntry.objects.slice_changes().exists() and not ExecutionSlice.objects.exists()


def test_a_body_over_the_limit_is_a_413_that_names_the_limit(kodexa, operator_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = kodexa.request_count()
    body = '{"status": "PENDING", "inputEvent": {"blob": "' + "x" * 4000 + '"}}'
    response = post_raw(operator_api, CREATE, body)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the 2,048 bytes (2 KiB) the API accepts."}
    assert_nothing_happened(kodexa, before)


def test_the_limit_applies_to_bulk_edits_too(kodexa, operator_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = {"ids": [f"slice-{n:06d}" for n in range(400)], "targetStatus": "PENDING", "reason": "too many"}
    response = operator_api.post("/api/v1/bulk-edits", body, format="json")
    assert response.status_code == 413 and "2,048 bytes" in response.json()["detail"]
    assert not BulkEditJob.objects.exists()


def test_a_body_just_under_the_limit_is_read(kodexa, operator_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = '{"status": "PENDING", "inputEvent": {"blob": "' + "x" * 1900 + '"}}'
    assert post_raw(operator_api, CREATE, body).status_code == 201


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"status": "PENDING",}', "Malformed JSON: Expecting property name"),
        ('{"status": NaN}', "Malformed JSON: NaN is not a JSON number"),
        ('{"sliceOrder": Infinity}', "Malformed JSON: Infinity is not a JSON number"),
        ('{"inputEvent": {"x": 1e999}}', "Malformed JSON: 1e999 is out of range for a number"),
        ("[" * 100_000 + "]" * 100_000, "Malformed JSON: nested too deeply"),
        (b'{"status": "\xff\xfe"}', "Malformed JSON: 'utf-8' codec can't decode"),
        ('{"status": "PENDING"', "Malformed JSON: Expecting ',' delimiter"),
    ],
    ids=["trailing-comma", "nan", "infinity", "huge-number", "deep-nesting", "not-utf8", "truncated"],
)
def test_malformed_json_is_a_400_with_a_field_level_message(kodexa, operator_api, body, says):
    before = kodexa.request_count()
    response = post_raw(operator_api, CREATE, body)
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == ["nonFieldErrors"] and errors["nonFieldErrors"][0].startswith(says), errors
    assert_nothing_happened(kodexa, before)


@pytest.mark.parametrize("body", ["[]", '"PENDING"', "42", "null"])
def test_json_that_is_not_an_object_is_a_400_for_the_body_as_a_whole(kodexa, operator_api, body):
    response = post_raw(operator_api, CREATE, body)
    assert response.status_code == 400
    assert list(response.json()) == ["nonFieldErrors"], response.json()


def test_a_filter_that_is_not_an_object_names_the_filter(kodexa, operator_api):
    body = {"filter": "FAILED", "targetStatus": "PENDING", "reason": "r"}
    response = operator_api.post("/api/v1/bulk-edits", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["filter"]) == ["nonFieldErrors"], response.json()


def test_malformed_json_to_a_bulk_edit_is_a_400_too(kodexa, operator_api):
    response = post_raw(operator_api, "/api/v1/bulk-edits", '{"ids": ["a"], "targetStatus": ')
    assert response.status_code == 400 and "nonFieldErrors" in response.json()
    assert not BulkEditJob.objects.exists()


def test_a_body_that_is_not_json_is_a_415(kodexa, operator_api):
    response = post_raw(operator_api, CREATE, "status=PENDING", "application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": ["a"], "targetStatus": "PENDING", "reason": "r", "dryrun": True}, "dryrun"),
        ({"ids": ["a"], "targetStatus": "PENDING", "reason": 42}, "reason"),
        ({"ids": ["a"], "targetStatus": "PENDING", "reason": "r", "dryRun": "yes"}, "dryRun"),
        ({"ids": ["a"], "targetStatus": "PENDING", "reason": "r", "confirmCount": "3"}, "confirmCount"),
        ({"filter": {"hasError": "yes"}, "targetStatus": "PENDING", "reason": "r"}, "filter"),
        ({"filter": {"attemptAtLeast": "many"}, "targetStatus": "PENDING", "reason": "r"}, "filter"),
    ],
    ids=["misspelt-dry-run", "number-as-reason", "string-as-boolean", "string-as-count", "bad-boolean", "bad-number"],
)
def test_a_bulk_edit_with_a_wrong_type_or_unknown_key_is_refused_not_guessed(kodexa, operator_api, body, field):
    response = operator_api.post("/api/v1/bulk-edits", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not BulkEditJob.objects.exists()


@pytest.mark.parametrize(
    "query",
    [{"hasError": "yes"}, {"leaseExpired": "1"}, {"pageSize": "lots"}, {"pageSize": "0"}, {"attemptAtLeast": "x"}],
)
def test_a_list_parameter_the_filters_cannot_use_is_a_400_not_ignored(kodexa, api, query):
    response = api("viewer").get("/api/v1/orchestrator-execution-slices", query)
    assert response.status_code == 400 and set(response.json()) == set(query), response.json()


@pytest.mark.parametrize("query", [{"before": "x"}, {"after": "-3"}, {"last": "yes"}, {"pageSize": "many"}])
def test_an_audit_page_parameter_that_is_not_a_cursor_is_a_400(kodexa, api, query):
    response = api("viewer").get("/api/v1/audit", query)
    assert response.status_code == 400 and set(response.json()) == set(query), response.json()


def test_a_post_to_no_route_is_a_json_404_not_the_csrf_page(kodexa, operator_api):
    response = operator_api.post("/api/v1/bulk-edits/not-a-job/cancel", {}, format="json")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_options_is_refused_like_any_undocumented_method(kodexa, operator_api):
    response = operator_api.options("/api/v1/orchestrator-execution-slices")
    assert response.status_code == 405 and response["Content-Type"] == "application/json"
