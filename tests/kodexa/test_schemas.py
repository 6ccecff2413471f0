"""Wire schemas: every field of both resources, both directions, with nulls and int32 bounds; the JSON walk."""

import datetime as dt

import pytest

from slices_admin.kodexa.contract import (
    EXECUTION_SLICE,
    INT32_MAX,
    INT32_MIN,
    ORCHESTRATOR_SLICE,
    RESOURCES,
    WireType,
)
from slices_admin.kodexa.schemas import (
    InvalidRecord,
    nests_deeper_than,
    parse_record,
    to_wire,
    validate_input,
    walk_json,
)
from tests.nasty import deep

SAMPLE = {
    WireType.INT32: [INT32_MIN, -1, 0, 7, INT32_MAX],
    WireType.STRING: ["", "FAILED", "ünïcödé ✓", "<script>alert(1)</script>"],
    WireType.DATETIME: ["2023-11-07T05:31:56Z", "2026-01-31T23:59:59.123Z", "2026-01-31T23:59:59.000400Z"],
    WireType.OBJECT: [{}, {"a": [1, {"b": None}], "c": "d"}],
}


def full_record(resource, pick=0, nulls=False):
    record = {}
    for field in resource.fields:
        if nulls and field.nullable:
            record[field.wire_name] = None
        elif field.wire_name == "id":
            record["id"] = f"slice/{pick} ✓"
        else:
            options = SAMPLE[field.type]
            record[field.wire_name] = options[pick % len(options)]
    return record


def test_the_contract_has_25_and_26_fields():
    assert len(EXECUTION_SLICE.fields) == 25
    assert len(ORCHESTRATOR_SLICE.fields) == 26


@pytest.mark.parametrize("resource", RESOURCES.values(), ids=lambda r: r.label)
@pytest.mark.parametrize("pick", range(5))
@pytest.mark.parametrize("nulls", [False, True])
def test_every_field_round_trips_to_the_same_wire_json(resource, pick, nulls):
    record = full_record(resource, pick, nulls)
    values = validate_input(resource, record, partial=False)
    assert set(values) == {f.python_name for f in resource.fields}
    assert to_wire(resource, values) == record


def test_datetimes_parse_to_aware_utc_and_format_with_z():
    values = validate_input(EXECUTION_SLICE, {"queuedAt": "2026-03-01T10:00:00+02:00"}, partial=True)
    assert values["queued_at"] == dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    assert to_wire(EXECUTION_SLICE, values) == {"queuedAt": "2026-03-01T08:00:00Z"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attemptNumber", INT32_MAX + 1, "at most"),
        ("attemptNumber", INT32_MIN - 1, "at least"),
        ("attemptNumber", True, "whole number"),
        ("attemptNumber", "3", "whole number"),
        ("attemptNumber", 1.5, "whole number"),
        ("attemptNumber", None, "null"),
        ("queuedAt", "2026-03-01T10:00:00", "RFC 3339"),
        ("queuedAt", "2026-13-01T10:00:00Z", "RFC 3339"),
        ("queuedAt", "yesterday", "RFC 3339"),
        ("createdOn", None, "null"),
        ("inputEvent", [], "JSON object"),
        ("inputEvent", "{}", "JSON object"),
        ("status", 3, "string"),
        ("status", None, "null"),
        ("statuss", "FAILED", "Unknown field"),
        ("queuedAt", "9999-12-31T23:59:59-01:00", "RFC 3339"),
        ("status", "nul\x00byte", "NUL"),
        ("id", "", "1 to 255"),
        ("id", "x" * 256, "1 to 255"),
        ("id", "line\nbreak", "control"),
    ],
)
def test_invalid_values_get_a_field_error(field, value, message):
    with pytest.raises(InvalidRecord) as caught:
        validate_input(EXECUTION_SLICE, {field: value}, partial=True)
    assert list(caught.value.field_errors) == [field]
    assert message in str(caught.value.field_errors[field][0])


def test_a_full_replace_names_every_missing_field():
    record = full_record(ORCHESTRATOR_SLICE)
    del record["stepEndOrder"], record["createdAt"]
    with pytest.raises(InvalidRecord) as caught:
        validate_input(ORCHESTRATOR_SLICE, record, partial=False)
    assert set(caught.value.field_errors) == {"stepEndOrder", "createdAt"}


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidRecord):
        validate_input(EXECUTION_SLICE, ["not", "an", "object"], partial=True)


def test_kodexas_answers_are_parsed_leniently():
    payload = {**full_record(ORCHESTRATOR_SLICE), "durationMs": "slow", "somethingNew": {"x": 1}}
    values, problems = parse_record(ORCHESTRATOR_SLICE, payload)
    assert "duration_ms" not in values
    assert set(problems) == {"durationMs"}
    assert values["status"] == payload["status"]


def test_the_json_walk_gives_each_value_with_its_path_and_level():
    walked = {path: (item, depth) for item, path, depth in walk_json({"a": [1, {"b": None}], "c": "d"})}
    assert walked == {
        "": ({"a": [1, {"b": None}], "c": "d"}, 1),
        "a": ([1, {"b": None}], 2),
        "a[0]": (1, 3),
        "a[1]": ({"b": None}, 3),
        "a[1].b": (None, 4),
        "c": ("d", 2),
    }


def test_nesting_is_measured_at_any_depth_without_recursion():
    value = deep(5000)  # 5,001 levels of objects and arrays: far past what recursion could walk
    assert nests_deeper_than(value, 5000) and not nests_deeper_than(value, 5001)
    assert not nests_deeper_than("a scalar", 0) and nests_deeper_than({}, 0) and not nests_deeper_than({}, 1)
