"""How a sync page is written into the cache (SQLite: batched statements from each record's text as received;
PostgreSQL: COPY into a staging table and a set-based merge), over real HTTP from a scripted server: new rows, changed
rows, unchanged rows left alone, every field kept, and a page that fails leaving the cache as the page before."""

import pytest
from django.db import DatabaseError

from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.kodexa.schemas import parse_record
from slices_admin.slices.cache import prepare_cache_write
from slices_admin.slices.models import OrchestratorSlice
from slices_admin.slices.sync import sync_slices
from tests.factories import at, cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.KODEXA_MAX_RETRIES = 0


def page(content, number=1, last=True):
    return {"content": content, "number": number, "size": 1000, "last": last, "totalElements": 3, "totalPages": 2}


def test_a_page_keeps_every_field_kodexa_returned_in_the_columns_and_the_raw_json(scripted_kodexa):
    record = orchestrator_record(
        inputEvent={"steps": [0, 1], "text": "é ☃ \u202e", "nested": {"n": 1.5}},
        errorDetails={"type": "Timeout"},
        outputEvent=[1, 2],  # not an object: the column stays empty, the raw JSON keeps it
        leaseExpiresAt="2026-11-01T13:00:00.1234567+02:00",
        durationMs=2**40,  # outside int32: null in its column
        newerPlatformField={"kept": True},
    )
    scripted_kodexa.answer(200, page([record]))
    sync_slices(ORCHESTRATOR_SLICE)
    row = OrchestratorSlice.objects.get()
    assert row.raw == record
    values, problems = parse_record(ORCHESTRATOR_SLICE, record)
    assert set(problems) == {"outputEvent", "durationMs"}
    for field in ORCHESTRATOR_SLICE.fields:
        if field.wire_name != "id":
            assert getattr(row, field.python_name) == values.get(field.python_name), field.wire_name
    assert row.output_event is None and row.duration_ms is None
    assert row.open_lease_expires_at is None  # completed
    assert row.gone_at is None and row.last_seen_at is not None


def test_new_and_changed_rows_are_written_and_an_older_version_is_not(scripted_kodexa):
    changed = orchestrator_record(changeSequence=2, status="RUNNING")
    older = orchestrator_record(changeSequence=7, status="CANCELLED")
    cache_orchestrator(changed, older)
    new = orchestrator_record()
    listed = [{**changed, "changeSequence": 3, "status": "FAILED"}, {**older, "changeSequence": 6}, new]
    scripted_kodexa.answer(200, page(listed))
    assert sync_slices(ORCHESTRATOR_SLICE).records == 3
    rows = {row.id: row for row in OrchestratorSlice.objects.all()}
    assert (rows[changed["id"]].status, rows[changed["id"]].change_sequence) == ("FAILED", 3)
    assert rows[changed["id"]].raw == listed[0]
    assert (rows[older["id"]].status, rows[older["id"]].change_sequence) == ("CANCELLED", 7)
    assert rows[new["id"]].raw == new


def test_an_unchanged_row_is_only_marked_seen_not_rewritten(scripted_kodexa):
    record = orchestrator_record()
    scripted_kodexa.answer(200, page([record]))
    sync_slices(ORCHESTRATOR_SLICE)
    first = OrchestratorSlice.objects.get()
    # Tamper with a column behind the cache's back: a rewrite from the same answer would put it back.
    OrchestratorSlice.objects.update(status="TAMPERED", gone_at=first.last_seen_at)
    scripted_kodexa.answer(200, page([record]))
    sync_slices(ORCHESTRATOR_SLICE)
    row = OrchestratorSlice.objects.get()
    assert row.status == "TAMPERED" and row.raw == record
    assert row.last_seen_at > first.last_seen_at and row.gone_at is None


def test_a_record_listed_twice_on_a_page_is_cached_as_its_last_copy(scripted_kodexa):
    record = orchestrator_record(status="RUNNING")
    scripted_kodexa.answer(200, page([record, {**record, "status": "SUCCEEDED"}]))
    assert sync_slices(ORCHESTRATOR_SLICE).records == 1
    assert OrchestratorSlice.objects.get().status == "SUCCEEDED"


def test_a_page_the_database_refuses_leaves_the_cache_as_the_page_before_left_it(scripted_kodexa):
    first = [orchestrator_record(), orchestrator_record()]
    cached = orchestrator_record(changeSequence=1, status="RUNNING")
    cache_orchestrator(cached)
    # NaN is no JSON either database keeps: the second page fails as a whole, its good records included.
    second = [{**cached, "changeSequence": 2, "status": "FAILED"}, orchestrator_record(inputEvent={"x": float("nan")})]
    scripted_kodexa.answer(200, page(first, 1, last=False)).answer(200, page(second, 2, last=True))
    with pytest.raises(DatabaseError):  # an IntegrityError on SQLite, a DataError on PostgreSQL
        sync_slices(ORCHESTRATOR_SLICE)
    ids = set(OrchestratorSlice.objects.values_list("id", flat=True))
    assert ids == {first[0]["id"], first[1]["id"], cached["id"]}
    assert OrchestratorSlice.objects.get(id=cached["id"]).status == "RUNNING"
    assert OrchestratorSlice.objects.count() == 3  # and the connection goes on working


def test_a_page_kodexa_sends_broken_stops_the_sync_after_the_pages_before_it(scripted_kodexa):
    first = [orchestrator_record(updatedOn=at(300))]
    scripted_kodexa.answer(200, page(first, 1, last=False)).answer(200, page([{"status": "RUNNING"}], 2))
    with pytest.raises(errors.KodexaProtocolError, match="no id"):
        sync_slices(ORCHESTRATOR_SLICE)
    assert list(OrchestratorSlice.objects.values_list("id", flat=True)) == [first[0]["id"]]
    assert len(scripted_kodexa.received) == 2  # no page after the broken one was asked for


def test_an_edits_outcome_is_written_by_the_same_rules_without_marking_anything_seen(django_assert_num_queries):
    """The bulk recorder's write: an edit's answer replaces the cached row, an older answer does not, and the
    statement marking unchanged rows seen (which an edit's answer never matches) is not run."""
    cached = orchestrator_record(changeSequence=4, status="RUNNING")
    cache_orchestrator(cached)
    seen = OrchestratorSlice.objects.get().last_seen_at
    answer = {**cached, "changeSequence": 5, "status": "CANCELLED"}
    write = prepare_cache_write(ORCHESTRATOR_SLICE, [answer], changed=True)
    assert write.touch == []
    with django_assert_num_queries(1):  # the upsert alone
        write.apply()
    row = OrchestratorSlice.objects.get()
    assert (row.status, row.change_sequence, row.raw) == ("CANCELLED", 5, answer)
    assert row.last_seen_at >= seen
    prepare_cache_write(ORCHESTRATOR_SLICE, [cached], changed=True).apply()  # an older answer, arriving late
    assert OrchestratorSlice.objects.get().change_sequence == 5
