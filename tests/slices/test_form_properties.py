"""Properties of the create and edit forms over generated input: an invalid form sends nothing to Kodexa (the
sandbox counts its requests) and writes nothing locally; what is sent always passes the wire schema; and a
record shown in the edit form comes back from it unchanged (blank text and CRLF line breaks normalised)."""

import json

import pytest
from django.db.models import Max
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from slices_admin.audit.models import AuditEntry
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource, WireType
from slices_admin.kodexa.schemas import to_wire, validate_input
from slices_admin.slices.forms import SliceRecordForm
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice
from tests import nasty, strategies
from tests.factories import cache_orchestrator

pytestmark = pytest.mark.django_db
THROUGH_THE_CLIENT = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What a person (or a script posting the form) might type into any field.
typed_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from([*nasty.STRINGS.values(), *nasty.DATES, *map(str, nasty.NUMBERS), "\x00", "{", "[]", "null"]),
    strategies.json_values.map(json.dumps),
    strategies.python_json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.integers().map(str),
    strategies.rfc3339().map(lambda pair: pair[0]),
    st.just("[" * 3000 + "]" * 3000),  # deeper than the JSON parser goes
    st.just(json.dumps({"deep": strategies.nested(600)})),  # deeper than the schema allows
)


@st.composite
def form_data(draw, resource: Resource) -> dict[str, str]:
    """A valid record as the form shows it, with some fields replaced by anything at all."""
    record = draw(strategies.valid_records(resource, partial=True))
    data = SliceRecordForm.initial_from_record(record)
    for name in draw(st.lists(st.sampled_from(resource.wire_names), max_size=3, unique=True)):
        data[name] = draw(typed_text)
    return data


def local_state() -> tuple:
    """Everything a change writes locally: the audit log and both caches."""
    return (
        AuditEntry.objects.count(),
        ExecutionSlice.objects.count(),
        OrchestratorSlice.objects.count(),
        OrchestratorSlice.objects.aggregate(seen=Max("last_seen_at"))["seen"],
        ExecutionSlice.objects.aggregate(seen=Max("last_seen_at"))["seen"],
    )


def check_post(client, kodexa, url: str, data: dict[str, str], resource: Resource, *, partial: bool) -> None:
    requests_before, state_before = kodexa.request_count(), local_state()
    entries_before = set(AuditEntry.objects.values_list("id", flat=True))
    response = client.post(url, data)
    assert response.status_code in (200, 302, 400, 409, 502), response.status_code
    form, kodexa_error = response.context["form"] if response.context else None, None
    if response.context:
        kodexa_error = response.context.get("kodexa_error")
    sent = response.status_code == 302 or kodexa_error is not None
    event("sent to Kodexa" if sent else "refused before sending")
    if not sent:
        assert form is not None and (not form.is_valid() or "_validate" in data)
        assert kodexa.request_count() == requests_before, "an invalid form reached Kodexa"
        assert local_state() == state_before, "an invalid form wrote locally"
        return
    new = AuditEntry.objects.exclude(id__in=entries_before)
    assert new.count() == 1  # exactly one entry for the one attempt
    body = new.get().request_body
    validate_input(resource, body, partial=partial)  # what reached Kodexa passes the wire schema


@given(data=st.data())
@THROUGH_THE_CLIENT
def test_the_create_form_sends_only_what_validates(kodexa, operator_client, data):
    fields = data.draw(form_data(EXECUTION_SLICE))
    if data.draw(st.booleans()):
        fields["_validate"] = "1"  # a re-validation as a field changes: never sent, valid or not
    check_post(operator_client, kodexa, reverse("slices:execution-create"), fields, EXECUTION_SLICE, partial=True)


@pytest.fixture
def edited(kodexa) -> dict:
    """One slice on the sandbox and in the cache, edited by every example of a test."""
    return cache_orchestrator(kodexa.new_orchestrator_slice(status="FAILED"))[0]


@given(data=st.data())
@THROUGH_THE_CLIENT
def test_the_edit_form_sends_only_what_validates(kodexa, operator_client, edited, data):
    record = kodexa.get("orchestrator-execution-slices", edited["id"])  # its current version
    fields = SliceRecordForm.initial_from_record(record)
    for name in data.draw(st.lists(st.sampled_from(ORCHESTRATOR_SLICE.wire_names), min_size=1, max_size=3)):
        fields[name] = data.draw(typed_text)
    fields["id"] = record["id"]
    url = reverse("slices:orchestrator-edit", args=[record["id"]])
    check_post(operator_client, kodexa, url, fields, ORCHESTRATOR_SLICE, partial=False)


def normalised(resource: Resource, record: dict) -> dict:
    """The record as the form hands it back: blank text is null where allowed (else ""), CRLF is LF."""
    values = {}
    for field in resource.fields:
        value = record[field.wire_name]
        if field.type is WireType.STRING and value is not None:
            value = value.replace("\r\n", "\n")
            if not value.strip():
                value = None if field.nullable else ""
        values[field.wire_name] = value
    return to_wire(resource, validate_input(resource, values, partial=False))


@given(record=strategies.valid_records(ORCHESTRATOR_SLICE))
@settings(max_examples=150)
def test_a_record_shown_in_the_edit_form_comes_back_unchanged(record):
    form = SliceRecordForm(
        SliceRecordForm.initial_from_record(record), resource=ORCHESTRATOR_SLICE, partial=False, readonly=("id",)
    )
    assert form.is_valid(), form.errors
    assert to_wire(ORCHESTRATOR_SLICE, form.values) == normalised(ORCHESTRATOR_SLICE, record)


@given(record=strategies.valid_records(EXECUTION_SLICE, partial=True), data=st.data())
@settings(max_examples=150)
def test_any_form_input_validates_or_gets_field_errors_never_an_exception(record, data):
    fields = SliceRecordForm.initial_from_record(record)
    for name in data.draw(st.lists(st.sampled_from(EXECUTION_SLICE.wire_names), max_size=4, unique=True)):
        fields[name] = data.draw(typed_text)
    form = SliceRecordForm(fields, resource=EXECUTION_SLICE, partial=True)
    if form.is_valid():
        assert to_wire(EXECUTION_SLICE, form.values) == to_wire(
            EXECUTION_SLICE, validate_input(EXECUTION_SLICE, form.wire_body(), partial=True)
        )
    else:
        assert set(form.errors) <= set(EXECUTION_SLICE.wire_names) | {"__all__"}
