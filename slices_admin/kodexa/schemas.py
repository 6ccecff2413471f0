"""Wire schemas built from the contract: camelCase JSON ↔ snake_case values, one set of rules for the API, the forms and
the services before anything is sent (refusals are `InvalidRecord`); Kodexa's own answers are parsed leniently."""

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypedDict, cast

from rest_framework import serializers

from .contract import (
    EXECUTION_SLICE,
    INT32_MAX,
    INT32_MIN,
    ORCHESTRATOR_SLICE,
    ContractField,
    Resource,
    WireType,
)

type JSONObject = dict[str, Any]
"""A JSON object as `json` parses it: string keys, values of any JSON type."""

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def format_datetime(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a `Z`; as many fractional digits as the value needs (none, 3 or 6)."""
    value = value.astimezone(dt.UTC)
    if not value.microsecond:
        timespec = "seconds"
    elif value.microsecond % 1000 == 0:
        timespec = "milliseconds"
    else:
        timespec = "microseconds"
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_datetime(value: object) -> dt.datetime:
    """Parse an RFC 3339 date-time (offset required); ValueError otherwise (for a value that is no string too)."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(value)
    try:  # the usual shape (`2026-11-01T13:40:00.123Z`) as Python reads it, with no rewriting first
        return dt.datetime.fromisoformat(value)
    except ValueError:
        pass  # a lowercase `t`/`z`, or a value out of range (which the rewriting below refuses too)
    text = value.upper().replace(" ", "T").replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python accepts at most 6 fractional digits; RFC 3339 allows more.
        fraction = re.match(r"\d+", rest)
        assert fraction is not None  # _RFC3339 allows only digits right after the dot
        digits = fraction.group()
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    return dt.datetime.fromisoformat(text)


class Int32Field(serializers.IntegerField):
    default_error_messages = {
        "invalid": "Must be a whole number.",
        "max_value": "Must be at most {max_value} (int32).",
        "min_value": "Must be at least {min_value} (int32).",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=INT32_MIN, max_value=INT32_MAX, **kwargs)

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class DateTimeField(serializers.Field[dt.datetime, str, str, Any]):
    default_error_messages = {
        "invalid": "Must be an RFC 3339 date-time with a time zone, e.g. 2023-11-07T05:31:56Z.",
    }

    def to_internal_value(self, data: object) -> dt.datetime:
        try:
            return parse_datetime(data).astimezone(dt.UTC)
        except (ValueError, OverflowError):  # OverflowError: e.g. 9999-12-31T23:59:59-01:00 has no UTC form
            self.fail("invalid")

    def to_representation(self, value: dt.datetime) -> str:
        return format_datetime(value)


MAX_JSON_DEPTH = 500
"""How deeply an object field may nest. Deeper JSON is refused on input: reading, diffing and auditing it would
need more recursion than a request has (Python's JSON parser itself gives up near 1,500 levels)."""


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored and sent as text (PostgreSQL keeps no NUL; a lone surrogate is not UTF-8)."""
    if "\x00" in text:
        return "nul"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "surrogate"
    return None


def _key_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def walk_json(value: Any) -> Iterator[tuple[Any, str, int]]:
    """Every value inside a JSON value, `value` first, each with its key path (`a.b[2]`) and its level (1: `value`
    itself). Without recursion, so no nesting can overflow the stack; the caller stops where it has seen enough
    (a container's children are reached only after the caller has seen the container)."""
    stack = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        yield item, path, depth
        if isinstance(item, dict):
            stack.extend((child, _key_path(path, key), depth + 1) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))


def nests_deeper_than(value: Any, levels: int) -> bool:
    """Whether a JSON object or array inside `value` (or `value` itself) sits more than `levels` levels deep."""
    return any(depth > levels and isinstance(item, dict | list) for item, _path, depth in walk_json(value))


def _json_problem(value: Any) -> tuple[str, str] | None:
    """The first reason `value` is not JSON that Kodexa and the cache can hold, with the key path where it is:
    NaN or Infinity (not JSON), NUL or a lone surrogate in a key or a string, nesting past MAX_JSON_DEPTH, or a
    value of a type JSON does not have."""
    for item, path, depth in walk_json(value):
        if isinstance(item, dict | list) and depth > MAX_JSON_DEPTH:
            return "depth", path
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    return "type", path
                if problem := _text_problem(key):
                    return problem, _key_path(path, key)
        elif isinstance(item, list):
            continue
        elif isinstance(item, str):
            if problem := _text_problem(item):
                return problem, path
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "number", path
        elif not (item is None or isinstance(item, bool | int)):
            return "type", path
    return None


def _shown_path(path: str) -> str:
    path = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)
    return path if len(path) <= 80 else path[:79] + "…"


class ObjectField(serializers.Field[JSONObject, JSONObject, JSONObject, Any]):
    default_error_messages = {
        "invalid": "Must be a JSON object.",
        "number": "Numbers must be finite: NaN and Infinity are not JSON (at {path}).",
        "nul": "Must not contain NUL characters (at {path}).",
        "surrogate": "Must be valid Unicode text: a lone surrogate cannot be stored (at {path}).",
        "depth": f"Nested too deeply: at most {MAX_JSON_DEPTH} levels (at {{path}}).",
        "type": "Must hold only JSON values (at {path}).",
    }

    def to_internal_value(self, data: object) -> JSONObject:
        if not isinstance(data, dict):
            self.fail("invalid")
        if found := _json_problem(data):
            problem, path = found
            self.fail(problem, path=_shown_path(path) or "the top level")
        return data

    def to_representation(self, value: JSONObject) -> JSONObject:
        return value


class StringField(serializers.Field[str, str, str, Any]):
    default_error_messages = {
        "invalid": "Must be a string.",
        "nul": "Must not contain NUL characters.",
        "surrogate": "Must be valid Unicode text: a lone surrogate cannot be stored.",
    }

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if problem := _text_problem(data):
            self.fail(problem)
        return data


class IdField(StringField):
    """A record id is part of URLs and a primary key: printable, at most 255 characters."""

    default_error_messages = {  # DRF merges these with StringField's
        "length": "Must be 1 to 255 characters.",
        "control": "Must not contain control characters.",
    }

    def to_internal_value(self, data: object) -> str:
        text = super().to_internal_value(data)
        if not 0 < len(text) <= 255:
            self.fail("length")
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            self.fail("control")
        return text

    def to_representation(self, value: str) -> str:
        return value


_FIELD_CLASSES: dict[WireType, type[serializers.Field[Any, Any, Any, Any]]] = {
    WireType.INT32: Int32Field,
    WireType.STRING: StringField,
    WireType.DATETIME: DateTimeField,
    WireType.OBJECT: ObjectField,
}


class WireSerializer(serializers.Serializer[Mapping[str, Any]]):
    """A Kodexa record. Keys outside the contract are field errors on input, so a typo is never dropped."""

    resource: Resource

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        errors: dict[str, Any] = {}  # DRF's error detail by field name
        values: dict[str, Any]
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # A serializer refuses its fields with a dict of them (the stubs allow a list too).
            errors = dict(cast(Mapping[str, Any], exc.detail))
            values = {}
        for key in sorted(set(data) - set(self.fields)):
            errors[key] = [f"Unknown field: {self.resource.label} has no field of that name."]
        if errors:
            raise serializers.ValidationError(errors)
        return values


class _FieldOptions(TypedDict, total=False):
    allow_null: bool
    label: str
    source: str


def _contract_field(field: ContractField) -> serializers.Field[Any, Any, Any, Any]:
    kwargs: _FieldOptions = {"allow_null": field.nullable, "label": field.wire_name}
    if field.python_name != field.wire_name:
        kwargs["source"] = field.python_name
    field_class = IdField if field.wire_name == "id" else _FIELD_CLASSES[field.type]
    return field_class(**kwargs)


def _wire_serializer(resource: Resource) -> type[WireSerializer]:
    attrs: dict[str, object] = {f.wire_name: _contract_field(f) for f in resource.fields}
    attrs["resource"] = resource
    return type(f"{resource.label}Wire", (WireSerializer,), attrs)


ExecutionSliceWire = _wire_serializer(EXECUTION_SLICE)
OrchestratorSliceWire = _wire_serializer(ORCHESTRATOR_SLICE)
WIRE_SERIALIZERS = {EXECUTION_SLICE: ExecutionSliceWire, ORCHESTRATOR_SLICE: OrchestratorSliceWire}


class InvalidRecord(Exception):
    """A record that must not be sent: messages by wire field name (`non_field_errors` for the record as a whole).
    The JSON API answers it with a 400 naming the fields, a form shows each message at its input."""

    def __init__(self, field_errors: Mapping[str, list[str]]):
        super().__init__(field_errors)
        self.field_errors = dict(field_errors)


def _messages(detail: Any) -> Any:
    """DRF's error detail as plain text, in the same shape."""
    if isinstance(detail, Mapping):
        return {str(key): _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_messages(item) for item in detail]
    return str(detail)


def validate_input(resource: Resource, data: Any, *, partial: bool) -> dict[str, Any]:
    """Validate a wire body into snake_case values; `partial=False` requires every field (a PUT).

    Raises `InvalidRecord` with messages keyed by wire field name.
    """
    serializer = WIRE_SERIALIZERS[resource](data=data, partial=partial)
    if not serializer.is_valid():
        raise InvalidRecord(_messages(serializer.errors))
    return dict(serializer.validated_data)


def to_wire(resource: Resource, values: Mapping[str, Any]) -> dict[str, Any]:
    """snake_case Python values → the wire body, in contract order; absent values stay absent."""
    body = {}
    for field in resource.fields:
        if field.python_name in values:
            value = values[field.python_name]
            if value is not None and field.type is WireType.DATETIME:
                value = format_datetime(value)
            body[field.wire_name] = value
    return body


def _parse_int32(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not INT32_MIN <= value <= INT32_MAX:
        raise ValueError("not an int32")
    return value


def _parse_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _parse_object(value: Any) -> JSONObject:
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _parse_utc_datetime(value: Any) -> dt.datetime:
    # In UTC, as the cache stores it: 9999-12-31T23:59:59-01:00 has no such form (OverflowError).
    return parse_datetime(value).astimezone(dt.UTC)


_ANSWER_PARSERS = {
    WireType.INT32: _parse_int32,
    WireType.STRING: _parse_string,
    WireType.DATETIME: _parse_utc_datetime,
    WireType.OBJECT: _parse_object,
}


def parse_record(resource: Resource, payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Kodexa's answer → (snake_case values of the contract fields it holds and that are valid, problems).

    Lenient on purpose, and fast (a sync parses thousands of records a second): a value Kodexa sends outside the
    contract is reported, not fatal; the caller keeps the whole payload as raw JSON, unknown fields included.
    """
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in resource.fields:
        if field.wire_name not in payload:
            continue
        value = payload[field.wire_name]
        if value is None:
            values[field.python_name] = None
            if not field.nullable:
                problems[field.wire_name] = "null where the contract allows none"
            continue
        try:
            values[field.python_name] = _ANSWER_PARSERS[field.type](value)
        except (ValueError, TypeError, OverflowError):
            problems[field.wire_name] = f"not a valid {field.type}"
    return values, problems
