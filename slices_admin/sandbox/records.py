"""A slice record checked and completed as the platform does it: field types, business rules, server stamps and
defaults. Pure functions of the contract; storing and answering are the callers' business."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from slices_admin.kodexa.contract import INT32_MAX, INT32_MIN, ContractField, Resource, WireType
from slices_admin.sandbox.messages import is_int, validation_error
from slices_admin.sandbox.store import format_instant, parse_instant


def current_instant() -> str:
    """The current instant as the platform stamps a record: UTC, to the millisecond."""
    moment = datetime.now(UTC)
    return format_instant(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def _checked_value(field: ContractField, value: object) -> tuple[object, str | None]:
    """The value as stored (date-times made canonical) and the error message if it does not fit the field."""
    if value is None:
        return None, None if field.nullable else "must not be null"
    match field.type:
        case WireType.INT32:
            if not is_int(value):
                return value, "must be an integer"
            if not INT32_MIN <= value <= INT32_MAX:
                return value, "must fit in a 32-bit signed integer"
        case WireType.STRING:
            if not isinstance(value, str):
                return value, "must be a string"
        case WireType.DATETIME:
            try:
                return format_instant(parse_instant(value)), None
            except (TypeError, ValueError, OverflowError):
                return value, "must be an RFC 3339 date-time with offset, like 2026-11-20T05:31:56Z"
        case WireType.OBJECT:
            if not isinstance(value, dict):
                return value, "must be a JSON object"
    return value, None


def checked_fields(resource: Resource, body: Mapping[str, Any], *, require_all: bool) -> dict[str, Any]:
    """The body's contract fields, checked and in contract order; unknown fields are dropped."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in resource.fields:
        if field.wire_name not in body:
            if require_all:
                errors[field.wire_name] = "is required (PUT replaces the whole record)"
            continue
        value, error = _checked_value(field, body[field.wire_name])
        if error:
            errors[field.wire_name] = error
        values[field.wire_name] = value
    if errors:
        raise validation_error(errors)
    return values


def rule_errors(record: Mapping[str, Any]) -> dict[str, str]:
    """The platform's business rules, which values of the right type can still break."""
    errors: dict[str, str] = {}
    for name in ("attemptNumber", "sliceOrder", "durationMs"):
        if (record.get(name) or 0) < 0:
            errors[name] = "must be greater than or equal to 0"
    if "status" in record and not record["status"].strip():
        errors["status"] = "must not be empty"
    if "id" in record and not record["id"].strip():
        errors["id"] = "must not be empty"
    start, end = record.get("stepStartOrder"), record.get("stepEndOrder")
    if start is not None and end is not None and start > end:
        errors["stepEndOrder"] = "must be greater than or equal to stepStartOrder"
    started, completed = record.get("startedAt"), record.get("completedAt")
    if started and completed and parse_instant(completed) < parse_instant(started):
        errors["completedAt"] = "must not be before startedAt"
    return errors


def _default(field: ContractField, values: Mapping[str, Any]) -> object:
    match field.wire_name:
        case "id" | "uuid":
            return str(uuid.uuid4())
        case "attemptNumber":
            return 1
        case "status":
            return "PENDING"
        case "stepEndOrder":
            return values.get("stepStartOrder", 0)
    if field.nullable:
        return None
    return {WireType.OBJECT: {}, WireType.STRING: "", WireType.INT32: 0}[field.type]


def new_record(resource: Resource, values: Mapping[str, Any], now: str) -> dict[str, Any]:
    """A record as created by POST: server stamps, then the checked values, then defaults for what is missing."""
    stamps: dict[str, object] = {"changeSequence": 1, "createdOn": now, "updatedOn": now, "createdAt": now}
    record: dict[str, Any] = {}
    for field in resource.fields:
        name = field.wire_name
        if name in stamps:
            record[name] = stamps[name]
        elif name in values:
            record[name] = values[name]
        else:
            record[name] = _default(field, values)
    return record
