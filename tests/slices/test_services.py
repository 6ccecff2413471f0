"""Service edge cases that need a fault a real Kodexa cannot be asked for."""

import pytest

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.kodexa.schemas import InvalidRecord, validate_input
from slices_admin.slices import services
from slices_admin.slices.cache import cache_record
from slices_admin.slices.models import OrchestratorSlice
from tests.factories import orchestrator_record

pytestmark = pytest.mark.django_db


def values_of(record):
    return validate_input(ORCHESTRATOR_SLICE, record, partial=False)


def test_a_retried_put_that_was_applied_the_first_time_is_a_success_not_a_conflict(scripted_kodexa):
    record = orchestrator_record(status="FAILED", changeSequence=3)
    sent = {**record, "status": "PENDING"}
    applied = {**sent, "changeSequence": 4, "updatedOn": "2026-11-23T10:00:00Z"}
    scripted_kodexa.answer(200, applied, delay=1)  # applied, but the answer comes too late: the client retries
    scripted_kodexa.answer(409, {"message": "Stale changeSequence: sent 3, current is 4"})
    scripted_kodexa.answer(200, applied)  # the read after the conflict finds our own change
    row = services.update_orchestrator_slice(record["id"], values_of(sent), context=AuditContext())
    assert (row.status, row.change_sequence) == ("PENDING", 4)
    entry = AuditEntry.objects.slice_changes().get()
    assert (entry.outcome, entry.response_status) == ("succeeded", 200)


def test_an_update_whose_body_names_another_slice_is_refused_before_sending(scripted_kodexa):
    record = orchestrator_record()
    with pytest.raises(InvalidRecord) as caught:
        services.update_orchestrator_slice("another-slice", values_of(record), context=AuditContext())
    assert list(caught.value.field_errors) == ["id"] and "another-slice" in caught.value.field_errors["id"][0]
    assert scripted_kodexa.received == [] and not AuditEntry.objects.exists()


def test_a_patch_onto_a_current_copy_the_contract_refuses_names_the_field_and_sends_nothing(scripted_kodexa):
    record = orchestrator_record(durationMs="slow")  # as Kodexa holds it: outside the contract
    scripted_kodexa.answer(200, record)
    with pytest.raises(InvalidRecord) as caught:
        services.patch_orchestrator_slice(record["id"], {"status": "PENDING"}, context=AuditContext())
    assert caught.value.field_errors == {
        "durationMs": ["Must be a whole number. (in the record merged with Kodexa's current copy)"]
    }
    assert [request["method"] for request in scripted_kodexa.received] == ["GET"]


def test_a_real_conflict_after_a_retry_is_still_a_conflict(scripted_kodexa):
    record = orchestrator_record(status="FAILED", changeSequence=3)
    theirs = {**record, "status": "CANCELLED", "changeSequence": 4}
    scripted_kodexa.answer(503).answer(409, {"message": "Stale"}).answer(200, theirs)
    with pytest.raises(errors.KodexaConflict) as caught:
        services.update_orchestrator_slice(
            record["id"], values_of({**record, "status": "PENDING"}), context=AuditContext()
        )
    assert caught.value.current["status"] == "CANCELLED"
    assert AuditEntry.objects.slice_changes().get().outcome == "conflict"


def test_an_applied_change_is_audited_even_when_the_cache_write_fails(scripted_kodexa, monkeypatch):
    record = orchestrator_record()
    scripted_kodexa.answer(200, {**record, "changeSequence": 2})

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "cache_record", broken)
    with pytest.raises(RuntimeError):
        services.update_orchestrator_slice(record["id"], values_of(record), context=AuditContext())
    entry = AuditEntry.objects.slice_changes().get()
    assert entry.outcome == "succeeded" and "could not cache" in entry.error
    assert not OrchestratorSlice.objects.exists()


def test_a_read_older_than_the_cached_copy_does_not_replace_it():
    newer = orchestrator_record(changeSequence=7, status="PENDING")
    cache_record(ORCHESTRATOR_SLICE, newer)
    cache_record(ORCHESTRATOR_SLICE, {**newer, "changeSequence": 6, "status": "FAILED"})
    assert OrchestratorSlice.objects.get().status == "PENDING"
