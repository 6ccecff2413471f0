"""Lists: the page object, paging, sorting, filters and search, and malformed list parameters."""

import uuid

import pytest

from tests.sandbox.conftest import EXECUTION, ORCHESTRATOR, SEEDED, all_pages, created_orchestrator_slice, parse


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
