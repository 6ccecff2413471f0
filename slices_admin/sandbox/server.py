"""The HTTP side of the sandbox: validation, routing, fault injection, the control endpoints and the entry point.

`SandboxApi` answers `Request`s with `Response`s and knows nothing of sockets; `SandboxHandler` and
`SandboxServer` carry them over HTTP/1.1 (keep-alive, one thread per connection). `run` is the one entry point
shared by `python -m slices_admin.sandbox` and `manage.py kodexa_sandbox`, whose options `add_arguments` defines.
"""

import argparse
import contextlib
import hmac
import json
import random
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from slices_admin.kodexa.contract import (
    INT32_MAX,
    INT32_MIN,
    ORCHESTRATOR_SLICE,
    RESOURCES,
    ContractField,
    Resource,
    WireType,
    outside_contract,
)
from slices_admin.sandbox.seed import seed_store
from slices_admin.sandbox.store import (
    SORT_FIELDS,
    TABLES,
    DuplicateId,
    PageQuery,
    SliceStore,
    format_instant,
    parse_instant,
)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 20
DEFAULT_SORT = "createdOn,desc"
DEMO_SEED = 1
MAX_SEED_COUNT = 1_000_000
MAX_BODY_BYTES = 10 * 2**20
HEALTH_PATH = "/_sandbox/health"
LISTENING_LINE = "Kodexa sandbox listening on http://{host}:{port}"


# --- Requests, responses, errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as the API sees it: method, path (still percent-encoded), query, headers and raw body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json_object(self, *, allow_empty: bool = False) -> dict:
        """The body as a JSON object; an empty body counts as `{}` only when `allow_empty`."""
        if allow_empty and not self.body.strip():
            return {}
        try:
            value = json.loads(self.body, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Body is not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Body must be a JSON object")
        return value


def _is_int(value: object) -> bool:
    """A JSON integer: an int that is not a bool."""
    return type(value) is int


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True, slots=True)
class Response:
    """What to answer: a status, a JSON body (already encoded) and extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(), headers)


class ApiError(Exception):
    """An error answer: raised anywhere while handling a request, turned into its JSON response."""

    def __init__(self, status: int, message: str, *, headers: tuple[tuple[str, str], ...] = (), **extra: object):
        super().__init__(message)
        self.status = status
        self.payload = {**extra, "message": message}
        self.headers = headers

    def response(self) -> Response:
        return json_response(self.status, self.payload, self.headers)


def validation_error(errors: dict[str, str], message: str = "Validation failed") -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, message, errors=errors)


# --- Record validation, as the platform does it -------------------------------------------------------------------


def _now() -> str:
    moment = datetime.now(UTC)
    return format_instant(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def _checked_value(field: ContractField, value: object) -> tuple[object, str | None]:
    """The value as stored (date-times made canonical) and the error message if it does not fit the field."""
    if value is None:
        return None, None if field.nullable else "must not be null"
    match field.type:
        case WireType.INT32:
            if not _is_int(value):
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


def checked_fields(resource: Resource, body: dict, *, require_all: bool) -> dict:
    """The body's contract fields, checked and in contract order; unknown fields are dropped."""
    values, errors = {}, {}
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


def rule_errors(record: dict) -> dict[str, str]:
    """The platform's business rules, which values of the right type can still break."""
    errors = {}
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


def _default(field: ContractField, values: dict) -> object:
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


def new_record(resource: Resource, values: dict, now: str) -> dict:
    """A record as created by POST: server stamps, then the checked values, then defaults for what is missing."""
    stamps = {"changeSequence": 1, "createdOn": now, "updatedOn": now, "createdAt": now}
    record = {}
    for field in resource.fields:
        name = field.wire_name
        if name in stamps:
            record[name] = stamps[name]
        elif name in values:
            record[name] = values[name]
        else:
            record[name] = _default(field, values)
    return record


# --- Lists --------------------------------------------------------------------------------------------------------

_FILTER_CLAUSE = re.compile(r"\s*(?P<field>[A-Za-z][\w.]*)(?:\s+eq\s+|\s*:\s*)'(?P<value>(?:[^']|'')*)'\s*")
_FILTER_AND = re.compile(r"and\s", re.IGNORECASE)
_FILTER_ALIASES = {
    "organization.id": "organizationId",
    "pipelineExecution.id": "pipelineExecutionId",
    "execution.id": "executionId",
}


def parse_filter(text: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """`status eq 'FAILED' and organizationId eq '...'` (or `organization.id: '...'`) as {wire field: value}."""
    filters: dict[str, str] = {}
    position, text = 0, text.strip()
    while position < len(text):
        if filters:
            separator = _FILTER_AND.match(text, position)
            if not separator:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"Malformed filter: expected 'and' at position {position}")
            position = separator.end()
        clause = _FILTER_CLAUSE.match(text, position)
        if not clause:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"Malformed filter at position {position}: expected <field> eq '<value>'"
            )
        field = _FILTER_ALIASES.get(clause["field"], clause["field"])
        if field not in allowed:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Cannot filter on {field!r}; use one of {', '.join(allowed)}")
        if field in filters:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Malformed filter: {field!r} appears twice")
        filters[field] = clause["value"].replace("''", "'")
        position = clause.end()
    return filters


def _int_param(request: Request, name: str, default: int) -> int:
    text = request.param(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= INT32_MAX:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be a positive integer")
    return value


def _sort_param(request: Request) -> tuple[str, bool]:
    field, _, direction = (request.param("sort") or DEFAULT_SORT).partition(",")
    direction = direction.strip().lower() or "asc"
    if field.strip() not in SORT_FIELDS or direction not in ("asc", "desc"):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, f"sort must be <field>,<asc|desc> with a field among {', '.join(SORT_FIELDS)}"
        )
    return field.strip(), direction == "desc"


def page_body(bodies: list[str], total: int, number: int, size: int) -> bytes:
    """The page object around already-serialised records (joined, never re-parsed)."""
    total_pages = -(-total // size)
    meta = {
        "totalElements": total,
        "totalPages": total_pages,
        "number": number,
        "size": size,
        "numberOfElements": len(bodies),
        "first": number == 1,
        "last": number >= total_pages,
        "empty": not bodies,
    }
    return f'{{"content":[{",".join(bodies)}],{json.dumps(meta, separators=(",", ":"))[1:]}'.encode()


# --- Faults -------------------------------------------------------------------------------------------------------

ALL_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
TIMEOUT = "timeout"
_ERROR_STATUSES = frozenset(status.value for status in HTTPStatus if 400 <= status <= 599)
_FAULT_MESSAGES = {
    HTTPStatus.TOO_MANY_REQUESTS: "Too many requests",
    HTTPStatus.SERVICE_UNAVAILABLE: "Service temporarily unavailable",
    HTTPStatus.GATEWAY_TIMEOUT: "Gateway timeout",
}


class FaultSettingsError(ValueError):
    """Fault settings that do not validate, with a message per setting."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _non_negative(value: object) -> float:
    if type(value) not in (int, float) or not 0 <= value < float("inf"):
        raise ValueError("must be a number >= 0")
    return value


def _rate(value: object) -> float:
    if type(value) not in (int, float) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return value


def _whole(value: object, *, low: int = 0) -> int:
    if not _is_int(value) or value < low:
        raise ValueError(f"must be an integer >= {low}")
    return value


def _method(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in ALL_METHODS:
        raise ValueError(f"methods must be among {', '.join(ALL_METHODS)}")
    return value.upper()


@dataclass(frozen=True, slots=True)
class FailRule:
    """An entry of the `failNext` queue: fail the next `count` requests (of `method`, or any) with `status`."""

    status: int | str
    count: int = 1
    method: str | None = None
    retry_after: int | None = None

    @classmethod
    def from_json(cls, data: object) -> Self:
        if not isinstance(data, dict) or not set(data) <= {"status", "count", "method", "retryAfter"}:
            raise ValueError("entries must be objects with status and optional count, method, retryAfter")
        status = data.get("status")
        if status != TIMEOUT and (not _is_int(status) or status not in _ERROR_STATUSES):
            raise ValueError('status must be an HTTP error status (4xx or 5xx) or "timeout"')
        method = data.get("method")
        retry_after = data.get("retryAfter")
        return cls(
            status,
            _whole(data.get("count", 1), low=1),
            None if method is None else _method(method),
            None if retry_after is None else _whole(retry_after),
        )

    def to_json(self) -> dict:
        return {"status": self.status, "count": self.count, "method": self.method, "retryAfter": self.retry_after}


def _fail_rules(value: object) -> tuple[FailRule, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list")
    return tuple(FailRule.from_json(entry) for entry in value)


def _methods(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of HTTP methods")
    return tuple(sorted({_method(entry) for entry in value}))


UNKNOWN_FIELDS = ("drop", "keep", "refuse")


def _unknown_fields(value: object) -> str:
    if value not in UNKNOWN_FIELDS:
        raise ValueError(f"must be one of {', '.join(UNKNOWN_FIELDS)}")
    return value


def _seed(value: object) -> int | None:
    if value is not None and not _is_int(value):
        raise ValueError("must be an integer or null")
    return value


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Which faults the sandbox injects into `/api/` requests. Random ones only hit requests of `methods`."""

    latency_ms: float = 0
    latency_jitter_ms: float = 0
    error_rate: float = 0
    timeout_rate: float = 0
    timeout_seconds: float = 30
    rate_limit_rate: float = 0
    # The request is carried out, then its answer is lost (a 504 instead): what a client must not apply twice.
    lost_answer_rate: float = 0
    retry_after: int = 1
    methods: tuple[str, ...] = ALL_METHODS
    fail_next: tuple[FailRule, ...] = ()
    seed: int | None = None
    # Fields outside the contract in a POST or PUT body: ignored (the contract as published), kept as a newer
    # platform would (a PUT then replaces them too: a field the body leaves out is gone), or refused with a 400.
    unknown_fields: str = "drop"

    def to_json(self) -> dict:
        return {
            "latencyMs": self.latency_ms,
            "latencyJitterMs": self.latency_jitter_ms,
            "errorRate": self.error_rate,
            "timeoutRate": self.timeout_rate,
            "timeoutSeconds": self.timeout_seconds,
            "rateLimitRate": self.rate_limit_rate,
            "lostAnswerRate": self.lost_answer_rate,
            "retryAfter": self.retry_after,
            "methods": list(self.methods),
            "failNext": [rule.to_json() for rule in self.fail_next],
            "seed": self.seed,
            "unknownFields": self.unknown_fields,
        }

    def updated(self, data: dict) -> Self:
        """These settings with the (camelCase, JSON) `data` applied; raise FaultSettingsError on bad values."""
        changes, errors = {}, {}
        for name, value in data.items():
            if name not in _SETTING_PARSERS:
                errors[name] = "is not a fault setting"
                continue
            attribute, parse = _SETTING_PARSERS[name]
            try:
                changes[attribute] = parse(value)
            except ValueError as error:
                errors[name] = str(error)
        if errors:
            raise FaultSettingsError(errors)
        settings = replace(self, **changes)
        if settings.error_rate + settings.timeout_rate + settings.rate_limit_rate + settings.lost_answer_rate > 1:
            raise FaultSettingsError(
                {"errorRate": "errorRate + timeoutRate + rateLimitRate + lostAnswerRate must not exceed 1"}
            )
        return settings


_SETTING_PARSERS: dict[str, tuple[str, Callable[[object], object]]] = {
    "latencyMs": ("latency_ms", _non_negative),
    "latencyJitterMs": ("latency_jitter_ms", _non_negative),
    "errorRate": ("error_rate", _rate),
    "timeoutRate": ("timeout_rate", _rate),
    "timeoutSeconds": ("timeout_seconds", _non_negative),
    "rateLimitRate": ("rate_limit_rate", _rate),
    "lostAnswerRate": ("lost_answer_rate", _rate),
    "retryAfter": ("retry_after", _whole),
    "methods": ("methods", _methods),
    "failNext": ("fail_next", _fail_rules),
    "seed": ("seed", _seed),
    "unknownFields": ("unknown_fields", _unknown_fields),
}


@dataclass(frozen=True, slots=True)
class Fault:
    """The fate drawn for one request: wait `delay_seconds`, then answer `status` instead of handling it (if set)."""

    delay_seconds: float = 0
    status: int | None = None
    retry_after: int | None = None
    after_handling: bool = False  # the request is carried out first, and only its answer replaced

    def response(self) -> Response:
        status = HTTPStatus(self.status)
        headers = () if self.retry_after is None else (("Retry-After", str(self.retry_after)),)
        return json_response(status, {"message": _FAULT_MESSAGES.get(status, status.phrase)}, headers)


class FaultInjector:
    """The fault settings in force, shared by all request threads; draws the fate of each `/api/` request."""

    def __init__(self, settings: FaultSettings):
        self._lock = threading.Lock()
        self.configure(settings)

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, settings: FaultSettings) -> FaultSettings:
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)
        return settings

    def draw(self, method: str) -> Fault:
        with self._lock:
            settings = self._settings
            delay = 0.0
            if method in settings.methods:
                delay = (settings.latency_ms + self._random.uniform(0, settings.latency_jitter_ms)) / 1000
            rule = self._take_rule(method)
            if rule is not None:
                return self._rule_fault(rule, delay)
            if method not in settings.methods:
                return Fault(delay)
            return self._random_fault(delay)

    def _take_rule(self, method: str) -> FailRule | None:
        queue = self._settings.fail_next
        index = next((i for i, rule in enumerate(queue) if rule.method in (None, method)), None)
        if index is None:
            return None
        rule = queue[index]
        rest = (replace(rule, count=rule.count - 1),) if rule.count > 1 else ()
        self._settings = replace(self._settings, fail_next=(*queue[:index], *rest, *queue[index + 1 :]))
        return rule

    def _rule_fault(self, rule: FailRule, delay: float) -> Fault:
        if rule.status == TIMEOUT:
            return Fault(delay + self._settings.timeout_seconds, HTTPStatus.GATEWAY_TIMEOUT)
        retry_after = rule.retry_after
        if rule.status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = self._settings.retry_after
        return Fault(delay, rule.status, retry_after)

    def _random_fault(self, delay: float) -> Fault:
        settings, draw = self._settings, self._random.random()
        if draw < settings.error_rate:
            return Fault(delay, HTTPStatus.SERVICE_UNAVAILABLE)
        draw -= settings.error_rate
        if draw < settings.timeout_rate:
            return Fault(delay + settings.timeout_seconds, HTTPStatus.GATEWAY_TIMEOUT)
        draw -= settings.timeout_rate
        if draw < settings.rate_limit_rate:
            return Fault(delay, HTTPStatus.TOO_MANY_REQUESTS, settings.retry_after)
        draw -= settings.rate_limit_rate
        if draw < settings.lost_answer_rate:
            return Fault(delay, HTTPStatus.GATEWAY_TIMEOUT, after_handling=True)
        return Fault(delay)


# --- The API ------------------------------------------------------------------------------------------------------

Endpoint = Callable[..., Response]
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class SandboxApi:
    """Everything the sandbox answers, independent of HTTP plumbing: the slice resources and `/_sandbox/`."""

    def __init__(self, store: SliceStore, api_key: str, faults: FaultInjector):
        self.store = store
        self.faults = faults
        self._api_key = api_key.encode()
        self._requests = 0
        self._requests_lock = threading.Lock()
        self._routes = self._build_routes()

    def _build_routes(self) -> list[tuple[re.Pattern[str], dict[str, Endpoint]]]:
        routes = []
        for resource in RESOURCES.values():
            item = {"GET": partial(self.get_slice, resource)}
            if resource is ORCHESTRATOR_SLICE:
                item["PUT"] = self.put_orchestrator_slice
            collection = {"GET": partial(self.list_slices, resource), "POST": partial(self.create_slice, resource)}
            routes.append((re.compile(rf"/api/{resource.path}/?"), collection))
            routes.append((re.compile(rf"/api/{resource.path}/(?P<record_id>[^/]+)"), item))
        routes += [
            (re.compile(HEALTH_PATH), {"GET": self.health}),
            (
                re.compile("/_sandbox/faults"),
                {"GET": self.get_faults, "PUT": self.put_faults, "DELETE": self.delete_faults},
            ),
            (re.compile("/_sandbox/stats"), {"GET": self.stats}),
            (re.compile("/_sandbox/seed"), {"POST": self.seed}),
        ]
        return routes

    def handle(self, request: Request) -> Response:
        """Authenticate, inject faults (into `/api/` only, before anything else happens), then route."""
        is_api = request.path.startswith("/api/")
        if is_api:
            with self._requests_lock:
                self._requests += 1
        if request.path != HEALTH_PATH and (is_api or request.path.startswith("/_sandbox/")):
            self._authenticate(request)
        if is_api:
            fault = self.faults.draw(request.method)
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            if fault.status is not None and not fault.after_handling:
                return fault.response()
            if fault.after_handling:
                endpoint, arguments = self._resolve(request)
                with contextlib.suppress(ApiError):
                    endpoint(request, **arguments)
                return fault.response()
        endpoint, arguments = self._resolve(request)
        return endpoint(request, **arguments)

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("x-api-key") or ""
        if not hmac.compare_digest(key.encode(), self._api_key):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "Invalid or missing API key")

    def _resolve(self, request: Request) -> tuple[Endpoint, dict[str, str]]:
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if request.method not in methods:
                allow = ", ".join(methods)
                raise ApiError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{request.method} is not allowed on {request.path}",
                    headers=(("Allow", allow),),
                )
            return methods[request.method], {name: unquote(value) for name, value in match.groupdict().items()}
        raise ApiError(HTTPStatus.NOT_FOUND, f"No route for {request.method} {request.path}")

    # Slice resources

    def _fields_outside(self, resource: Resource, body: dict) -> dict:
        """The body's fields outside the contract that this sandbox keeps (none, unless `unknownFields` says
        keep; refused with a 400 when it says refuse)."""
        outside = outside_contract(resource, body)
        policy = self.faults.settings.unknown_fields
        if outside and policy == "refuse":
            raise validation_error({name: f"is not a field of {resource.label}" for name in outside})
        return outside if policy == "keep" else {}

    def create_slice(self, resource: Resource, request: Request) -> Response:
        body = request.json_object()
        outside = self._fields_outside(resource, body)
        record = {**new_record(resource, checked_fields(resource, body, require_all=False), _now()), **outside}
        if errors := rule_errors(record):
            raise validation_error(errors)
        try:
            text = self.store.insert(resource.path, record)
        except DuplicateId as error:
            raise ApiError(HTTPStatus.CONFLICT, f"{resource.label} {record['id']} already exists") from error
        return Response(HTTPStatus.CREATED, text.encode())

    def get_slice(self, resource: Resource, request: Request, record_id: str) -> Response:
        text = self.store.get(resource.path, record_id)
        if text is None:
            raise self._not_found(resource, record_id)
        return Response(HTTPStatus.OK, text.encode())

    def list_slices(self, resource: Resource, request: Request) -> Response:
        table = TABLES[resource.path]
        number = _int_param(request, "page", 1)
        size = min(_int_param(request, "pageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        sort_field, descending = _sort_param(request)
        text = request.param("query", "").strip()
        query = PageQuery(
            filters=parse_filter(request.param("filter", ""), table.filter_fields),
            text=None if text in ("", "*") else text,
            sort_field=sort_field,
            descending=descending,
            offset=(number - 1) * size,
            limit=size,
        )
        total, bodies = self.store.page(resource.path, query)
        return Response(HTTPStatus.OK, page_body(bodies, total, number, size))

    def put_orchestrator_slice(self, request: Request, record_id: str) -> Response:
        """Replace the whole record, guarded by its changeSequence (optimistic locking)."""
        resource = ORCHESTRATOR_SLICE
        if not _UUID.fullmatch(record_id):
            raise ApiError(HTTPStatus.BAD_REQUEST, "id must be a UUID")
        if self.store.get(resource.path, record_id) is None:
            raise self._not_found(resource, record_id)
        body = request.json_object()
        outside = self._fields_outside(resource, body)
        values = checked_fields(resource, body, require_all=True)
        errors = rule_errors(values)
        if values["id"] != record_id:
            errors["id"] = "must equal the id in the path"
        if errors:
            raise validation_error(errors)
        now = _now()

        def replaced(stored: dict) -> dict:
            current = stored["changeSequence"]
            if values["changeSequence"] != current:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    f"Stale changeSequence: sent {values['changeSequence']}, current is {current}",
                    currentChangeSequence=current,
                )
            immutable = {name: stored[name] for name in ("createdOn", "createdAt")}
            # A whole replacement: fields outside the contract are the body's (kept) or none (ignored).
            return {**values, "changeSequence": current + 1, "updatedOn": now, **immutable, **outside}

        text = self.store.update(resource.path, record_id, replaced)
        if text is None:
            raise self._not_found(resource, record_id)
        return Response(HTTPStatus.OK, text.encode())

    @staticmethod
    def _not_found(resource: Resource, record_id: str) -> ApiError:
        return ApiError(HTTPStatus.NOT_FOUND, f"{resource.label} {record_id} not found")

    # Control endpoints

    def health(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, {"status": "ok"})

    def get_faults(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.faults.settings.to_json())

    def put_faults(self, request: Request) -> Response:
        try:
            settings = self.faults.settings.updated(request.json_object())
        except FaultSettingsError as error:
            raise validation_error(error.errors, "Invalid fault settings") from error
        return json_response(HTTPStatus.OK, self.faults.configure(settings).to_json())

    def delete_faults(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.faults.configure(FaultSettings()).to_json())

    def stats(self, request: Request) -> Response:
        with self._requests_lock:
            requests = self._requests
        return json_response(HTTPStatus.OK, {"requests": requests, "putCounts": self.store.put_counts()})

    def seed(self, request: Request) -> Response:
        """Append demo data: `{"orchestratorSlices": N, "executionSlices": M, "seed": S}`, all optional.

        N defaults to 1000, M to N // 10, and S to the number of orchestrator slices stored, so that repeated
        calls add new records rather than regenerate existing ones.
        """
        body = request.json_object(allow_empty=True)
        orchestrator_count = body.get("orchestratorSlices", 1000)
        execution_count = body.get("executionSlices", orchestrator_count // 10 if _is_int(orchestrator_count) else 0)
        seed = body.get("seed", self.store.count(ORCHESTRATOR_SLICE.path))
        errors = {
            name: f"must be an integer from 0 to {MAX_SEED_COUNT}"
            for name, value in (("orchestratorSlices", orchestrator_count), ("executionSlices", execution_count))
            if not _is_int(value) or not 0 <= value <= MAX_SEED_COUNT
        }
        if not _is_int(seed):
            errors["seed"] = "must be an integer"
        if errors:
            raise validation_error(errors)
        added = seed_store(
            self.store, orchestrator_count=orchestrator_count, execution_count=execution_count, seed=seed
        )
        return json_response(HTTPStatus.CREATED, {**added, "seed": seed})


# --- HTTP ---------------------------------------------------------------------------------------------------------


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server for one `SandboxApi`."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: SandboxApi, *, verbose: bool = False):
        self.api = api
        self.verbose = verbose
        super().__init__(address, SandboxHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is not worth a traceback
            super().handle_error(request, client_address)


class SandboxHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a `Request` for the server's `SandboxApi` and writes back its `Response`."""

    protocol_version = "HTTP/1.1"
    server_version = "KodexaSandbox/1.0"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't let the body wait for an ACK
    server: SandboxServer  # set by the base class; typed for the `api` and `verbose` it carries

    def _handle(self) -> None:
        self._started = time.perf_counter()
        try:
            response = self.server.api.handle(self._request())
        except ApiError as error:
            response = error.response()
        except Exception:
            traceback.print_exc()
            response = json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"})
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _request(self) -> Request:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise ApiError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"Body larger than {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        url = urlsplit(self.path)
        return Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.verbose:
            elapsed_ms = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
            sys.stderr.write(f"{self.command} {self.path} {code} {elapsed_ms:.1f}ms\n")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{format % args}\n")


def make_server(
    host: str,
    port: int,
    *,
    store: SliceStore,
    api_key: str,
    faults: FaultSettings | None = None,
    verbose: bool = False,
) -> SandboxServer:
    """A bound (not yet serving) sandbox server; port 0 picks a free port (see `server.server_address`)."""
    api = SandboxApi(store, api_key, FaultInjector(faults or FaultSettings()))
    return SandboxServer((host, port), api, verbose=verbose)


def serve_forever(server: SandboxServer) -> None:
    """Serve until SIGTERM or SIGINT (when called from the main thread) or `server.shutdown()`, then close."""
    if threading.current_thread() is threading.main_thread():

        def stop(signum: int, frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


# --- Entry point --------------------------------------------------------------------------------------------------


def add_arguments(
    parser: argparse.ArgumentParser, *, api_key: str | None = None, data: str = "var/sandbox.sqlite3"
) -> None:
    """The sandbox's command line options; `--api-key` is required when no default is given."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    parser.add_argument("--data", default=str(data), help=f"SQLite file, created if missing (default {data})")
    parser.add_argument(
        "--api-key", default=api_key, required=api_key is None, help="the x-api-key value clients must send"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="if the store is empty, seed N orchestrator slices and N//10 execution slices",
    )
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before each /api/ answer")
    parser.add_argument("--error-rate", type=float, default=0, help="share of /api/ requests answered 503")
    parser.add_argument("--timeout-rate", type=float, default=0, help="share answered 504 after --timeout-seconds")
    parser.add_argument("--timeout-seconds", type=float, default=30, help="how long a timeout fault hangs")
    parser.add_argument("--rate-limit-rate", type=float, default=0, help="share answered 429 with Retry-After")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds sent with 429")
    parser.add_argument("--verbose", action="store_true", help="log one line per request on stderr")


def fault_settings(options: Mapping[str, Any]) -> FaultSettings:
    """The fault settings the command line options ask for (validated like `PUT /_sandbox/faults`)."""
    return FaultSettings().updated(
        {
            "latencyMs": options["latency_ms"],
            "errorRate": options["error_rate"],
            "timeoutRate": options["timeout_rate"],
            "timeoutSeconds": options["timeout_seconds"],
            "rateLimitRate": options["rate_limit_rate"],
            "retryAfter": options["retry_after"],
        }
    )


def run(options: Mapping[str, Any]) -> None:
    """Open the store, seed it if asked and empty, announce the address on stdout, and serve until stopped."""
    try:
        faults = fault_settings(options)
    except FaultSettingsError as error:
        raise SystemExit(f"Invalid fault options: {error.errors}") from error
    store = SliceStore(options["data"])
    try:
        if options["seed"] > 0 and store.is_empty():
            added = seed_store(
                store, orchestrator_count=options["seed"], execution_count=options["seed"] // 10, seed=DEMO_SEED
            )
            print(
                f"Seeded {added['orchestratorSlices']} orchestrator and {added['executionSlices']} execution slices",
                file=sys.stderr,
            )
        server = make_server(
            options["host"],
            options["port"],
            store=store,
            api_key=options["api_key"],
            faults=faults,
            verbose=options["verbose"],
        )
        host, port = server.server_address[:2]
        print(LISTENING_LINE.format(host=host, port=port), flush=True)
        serve_forever(server)
    finally:
        store.close()
