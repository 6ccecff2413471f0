"""Fields a newer Kodexa returns that the contract does not list: kept in the cache, shown, and sent back unchanged
by every full-replacement PUT the console builds (edit form, PATCH, bulk edit), so a PUT changes only what the
person changed. The sandbox plays the newer platform: it keeps fields outside the contract, and a PUT that leaves
one out loses it, as a full replacement does."""

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk.changes import Change
from slices_admin.bulk.runner import run_job
from slices_admin.bulk.services import Selection, create_job
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.services import read_freshest, refresh_slice
from tests.slices.test_pages import edit_post_data

ORCH = ORCHESTRATOR_SLICE.path
EXTRA = {"priority": 7, "retentionPolicy": {"days": 30, "legalHold": False}, "costCentre": "ingest-eu"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def newer_kodexa(kodexa):
    """The sandbox as a newer platform: its records carry fields the console's contract does not list."""
    kodexa.set_faults(unknownFields="keep")
    return kodexa


@pytest.fixture
def record(newer_kodexa, db) -> dict:
    """A slice with fields outside the contract, on the sandbox and (as a read leaves it) in the cache."""
    made = newer_kodexa.new_orchestrator_slice(status="FAILED", **EXTRA)
    assert {name: made[name] for name in EXTRA} == EXTRA  # the newer platform kept them
    read_freshest(ORCHESTRATOR_SLICE, made["id"])
    return made


def stored(kodexa, record) -> dict:
    return kodexa.get(ORCH, record["id"])


def sent_bodies(record) -> list[dict]:
    return [entry.request_body for entry in AuditEntry.objects.slice_changes().filter(remote_id=record["id"])]


@pytest.mark.django_db
def test_the_edit_form_sends_the_unknown_fields_back_unchanged(newer_kodexa, record, as_role):
    client = as_role("operator")
    url = reverse("slices:orchestrator-edit", args=[record["id"]])
    assert client.get(url).status_code == 200
    response = client.post(url, edit_post_data(record, status="PENDING"), **HTMX)
    assert "HX-Redirect" in response
    now = stored(newer_kodexa, record)
    assert now["status"] == "PENDING" and now["changeSequence"] == record["changeSequence"] + 1
    assert {name: now[name] for name in EXTRA} == EXTRA
    [body] = sent_bodies(record)
    assert {name: body[name] for name in EXTRA} == EXTRA


@pytest.mark.django_db
def test_a_patch_sends_the_unknown_fields_back_unchanged(newer_kodexa, record, api):
    response = api("operator").patch(f"/api/v1/{ORCH}/{record['id']}", {"status": "PENDING"}, format="json")
    assert response.status_code == 200, response.content
    now = stored(newer_kodexa, record)
    assert now["status"] == "PENDING" and {name: now[name] for name in EXTRA} == EXTRA


@pytest.mark.django_db(transaction=True)
def test_a_bulk_edit_sends_the_unknown_fields_back_unchanged(newer_kodexa, make_user):
    pipeline = "pipe-unknown-fields"
    records = [
        newer_kodexa.new_orchestrator_slice(status="FAILED", pipelineExecutionId=pipeline, **EXTRA) for _ in range(5)
    ]
    for made in records:
        read_freshest(ORCHESTRATOR_SLICE, made["id"])
    job = create_job(
        Selection.from_filter({"pipelineExecutionId": pipeline}),
        Change("PENDING", reason="re-queue"),
        context=AuditContext(actor=make_user("operator")),
        confirmed_count=5,
    )
    assert run_job(job.pk) == "finished"
    for made in records:
        now = stored(newer_kodexa, made)
        assert now["status"] == "PENDING" and now["changeSequence"] == made["changeSequence"] + 1
        assert {name: now[name] for name in EXTRA} == EXTRA, made["id"]


@pytest.mark.django_db
def test_with_drop_the_put_carries_the_contracts_fields_alone(newer_kodexa, record, api, settings):
    settings.KODEXA_PUT_UNKNOWN_FIELDS = "drop"
    response = api("operator").patch(f"/api/v1/{ORCH}/{record['id']}", {"status": "PENDING"}, format="json")
    assert response.status_code == 200, response.content
    [body] = sent_bodies(record)
    assert sorted(body) == sorted(ORCHESTRATOR_SLICE.wire_names)  # the 26 (PostgreSQL's jsonb keeps no key order)
    assert not set(EXTRA) & set(stored(newer_kodexa, record))  # a whole replacement without them: gone


@pytest.mark.django_db
def test_a_put_that_refuses_unknown_fields_is_explained_on_the_page_the_api_and_the_audit(
    newer_kodexa, record, as_role, api
):
    newer_kodexa.set_faults(unknownFields="refuse")
    answer = api("operator").patch(f"/api/v1/{ORCH}/{record['id']}", {"status": "PENDING"}, format="json")
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "KODEXA_PUT_UNKNOWN_FIELDS=drop" in detail and "costCentre" in detail
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert entry.outcome == "rejected" and "KODEXA_PUT_UNKNOWN_FIELDS=drop" in entry.error
    page = as_role("operator").post(
        reverse("slices:orchestrator-edit", args=[record["id"]]), edit_post_data(record, status="PENDING"), **HTMX
    )
    assert page.status_code == 400 and "KODEXA_PUT_UNKNOWN_FIELDS=drop" in page.content.decode()
    assert stored(newer_kodexa, record)["status"] == "FAILED"


@pytest.mark.django_db
def test_unknown_fields_are_shown_on_the_slice_page_in_their_own_block(record, as_role):
    body = as_role("viewer").get(reverse("slices:detail", args=["orchestrator", record["id"]])).content.decode()
    assert "Fields this console does not know" in body
    assert all(name in body for name in EXTRA) and "carries them back unchanged" in body


@pytest.mark.django_db
def test_a_person_or_a_script_cannot_send_unknown_fields(newer_kodexa, record, api):
    before = newer_kodexa.request_count()
    answer = api("operator").patch(f"/api/v1/{ORCH}/{record['id']}", {"priority": 1}, format="json")
    assert answer.status_code == 400 and "priority" in answer.json()
    assert newer_kodexa.request_count() == before


@pytest.mark.django_db
def test_the_audit_diff_shows_a_change_to_an_unknown_field(newer_kodexa, record):
    newer_kodexa.put(stored(newer_kodexa, record), priority=1)  # another client of the newer platform
    _row, changes = refresh_slice(ORCHESTRATOR_SLICE, record["id"], context=AuditContext.system())
    assert {"field": "priority", "before": 7, "after": 1} in changes
