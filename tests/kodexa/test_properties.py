"""Properties of the wire schemas over generated input: any JSON either validates or gets field errors; what
validates serialises back to the same wire JSON (date-times normalised to UTC); Kodexa's answers parse leniently."""

import datetime as dt
import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, RESOURCES, WireType
from slices_admin.kodexa.schemas import InvalidRecord, parse_record, to_wire, validate_input
from tests import strategies
from tests.nasty import deep, object_of_strings

RESOURCE_LIST = list(RESOURCES.values())
CANONICAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?Z$")


def validated(resource, data, *, partial):
    """The validated values, or the field errors; any other exception fails the test."""
    try:
        return validate_input(resource, data, partial=partial), None
    except InvalidRecord as exc:
        return None, exc.field_errors


def assert_field_errors(resource, errors, data):
    assert isinstance(errors, dict) and errors, errors
    known = set(resource.wire_names) | {"non_field_errors"}
    for name, messages in errors.items():
        assert name in known or (isinstance(data, dict) and name in data), name
        assert messages and all(str(m) for m in messages), (name, messages)


@pytest.mark.parametrize("resource", RESOURCE_LIST, ids=lambda r: r.label)
@pytest.mark.parametrize("partial", [True, False], ids=["create", "replace"])
@given(data=strategies.json_values | strategies.python_json_values)
@settings(max_examples=150)
def test_any_json_validates_or_gets_field_errors(resource, partial, data):
    _values, errors = validated(resource, data, partial=partial)
    if errors is not None:
        assert_field_errors(resource, errors, data)
    else:
        assert isinstance(data, dict)


@pytest.mark.parametrize("resource", RESOURCE_LIST, ids=lambda r: r.label)
@pytest.mark.parametrize("partial", [True, False], ids=["create", "replace"])
@given(data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_a_record_with_odd_values_validates_or_gets_an_error_on_each_bad_field(resource, partial, data):
    record = data.draw(strategies.wire_shaped(resource, partial=partial))
    _values, errors = validated(resource, record, partial=partial)
    if errors is None:
        return
    assert_field_errors(resource, errors, record)
    unknown = set(record) - set(resource.wire_names)
    assert unknown <= set(errors)  # a typo is never silently dropped
    for name in errors:  # an error names a field that was given (or a missing one, for a full replace)
        assert name in record or not partial


@pytest.mark.parametrize("resource", RESOURCE_LIST, ids=lambda r: r.label)
@pytest.mark.parametrize("partial", [True, False], ids=["create", "replace"])
@given(data=st.data())
@settings(max_examples=150)
def test_what_validates_round_trips_to_the_same_wire_json(resource, partial, data):
    record = data.draw(strategies.valid_records(resource, partial=partial))
    values, errors = validated(resource, record, partial=partial)
    assert errors is None, errors
    wire = to_wire(resource, values)
    assert list(wire) == [name for name in resource.wire_names if name in record]  # contract order, none added
    types = {f.wire_name: f.type for f in resource.fields}
    for name, sent in record.items():
        if types[name] is WireType.DATETIME and sent is not None:
            assert CANONICAL_DATETIME.match(wire[name]), wire[name]  # normalised: UTC, `Z`, 0/3/6 digits
        else:
            assert wire[name] == sent and type(wire[name]) is type(sent)
    assert json.loads(json.dumps(wire, allow_nan=False)) == wire  # sendable as strict JSON
    again, errors = validated(resource, wire, partial=partial)
    assert errors is None and to_wire(resource, again) == wire  # the normal form is a fixed point


@given(pair=strategies.rfc3339())
@settings(max_examples=300)
@example(pair=("2026-01-31T23:59:59.1234567Z", dt.datetime(2026, 1, 31, 23, 59, 59, 123456, tzinfo=dt.UTC)))
@example(pair=("0001-01-01T00:00:00-00:30", dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.UTC)))
def test_every_spelling_of_a_date_time_names_the_same_instant(pair):
    text, instant = pair
    values = validate_input(EXECUTION_SLICE, {"queuedAt": text}, partial=True)
    assert values["queued_at"] == instant
    assert values["queued_at"].utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        {"nan": float("nan")},
        {"deeper": [{"infinity": float("inf")}]},
        {"minus-infinity": -float("inf")},
        {"nul": "a\x00b"},
        {"nul\x00key": 1},
        {"lone-surrogate": "\ud800"},
        {"lone\udfffkey": 1},
        strategies.nested(2000),
    ],
    ids=["nan", "nested-infinity", "minus-infinity", "nul", "nul-key", "surrogate", "surrogate-key", "too-deep"],
)
def test_an_object_kodexa_could_not_store_or_json_cannot_carry_is_a_field_error(value):
    value = value if isinstance(value, dict) else {"deep": value}
    values, errors = validated(ORCHESTRATOR_SLICE, {"inputEvent": value}, partial=True)
    assert values is None and list(errors) == ["inputEvent"], errors


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb"])
def test_a_string_that_is_not_unicode_text_is_a_field_error(value):
    values, errors = validated(ORCHESTRATOR_SLICE, {"errorMessage": value, "id": "x"}, partial=True)
    assert values is None and list(errors) == ["errorMessage"], errors


def test_nasty_but_storable_objects_validate_unchanged():
    for value in (object_of_strings(), deep(260)):
        values, errors = validated(ORCHESTRATOR_SLICE, {"inputEvent": value}, partial=True)
        assert errors is None and to_wire(ORCHESTRATOR_SLICE, values) == {"inputEvent": value}


@pytest.mark.parametrize("resource", RESOURCE_LIST, ids=lambda r: r.label)
@given(data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_kodexas_answers_parse_leniently_whatever_they_hold(resource, data):
    payload = data.draw(strategies.wire_shaped(resource, partial=True) | strategies.json_objects)
    values, problems = parse_record(resource, payload)
    python_names = {f.python_name for f in resource.fields}
    assert set(values) <= python_names
    assert set(problems) <= set(resource.wire_names) & set(payload)
    for field in resource.fields:
        if field.wire_name in payload and field.wire_name not in problems:
            assert field.python_name in values


@pytest.mark.parametrize("resource", RESOURCE_LIST, ids=lambda r: r.label)
@given(data=st.data())
@settings(max_examples=100)
def test_a_valid_record_parses_as_an_answer_without_problems_and_to_the_same_values(resource, data):
    record = data.draw(strategies.valid_records(resource))
    values = validate_input(resource, record, partial=False)
    parsed, problems = parse_record(resource, record)
    assert problems == {}
    assert parsed == values
