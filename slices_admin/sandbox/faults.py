"""Fault injection into `/api/` requests: the settings (as `/_sandbox/faults` and the command line give them),
their validation, and the injector that draws each request's fate. Where a fault is applied is the API's business."""

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Final, Literal, Self, TypedDict, TypeGuard

from slices_admin.sandbox.messages import Response, is_int, json_response

ALL_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
TIMEOUT: Final = "timeout"
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


def _is_number(value: object) -> TypeGuard[float]:
    """A JSON number: an int (not a bool) or a float."""
    return type(value) in (int, float)


def _non_negative(value: object) -> float:
    if not _is_number(value) or not 0 <= value < float("inf"):
        raise ValueError("must be a number >= 0")
    return value


def _rate(value: object) -> float:
    if not _is_number(value) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return value


def _whole(value: object, *, low: int = 0) -> int:
    if not is_int(value) or value < low:
        raise ValueError(f"must be an integer >= {low}")
    return value


def _method(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in ALL_METHODS:
        raise ValueError(f"methods must be among {', '.join(ALL_METHODS)}")
    return value.upper()


class FailRuleJson(TypedDict):
    """A `failNext` entry as `/_sandbox/faults` shows it."""

    status: int | Literal["timeout"]
    count: int
    method: str | None
    retryAfter: int | None


@dataclass(frozen=True, slots=True)
class FailRule:
    """An entry of the `failNext` queue: fail the next `count` requests (of `method`, or any) with `status`."""

    status: int | Literal["timeout"]
    count: int = 1
    method: str | None = None
    retry_after: int | None = None

    @classmethod
    def from_json(cls, data: object) -> Self:
        if not isinstance(data, dict) or not set(data) <= {"status", "count", "method", "retryAfter"}:
            raise ValueError("entries must be objects with status and optional count, method, retryAfter")
        status = data.get("status")
        if status != TIMEOUT and (not is_int(status) or status not in _ERROR_STATUSES):
            raise ValueError('status must be an HTTP error status (4xx or 5xx) or "timeout"')
        method = data.get("method")
        retry_after = data.get("retryAfter")
        return cls(
            status,
            _whole(data.get("count", 1), low=1),
            None if method is None else _method(method),
            None if retry_after is None else _whole(retry_after),
        )

    def to_json(self) -> FailRuleJson:
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
    if value is not None and not is_int(value):
        raise ValueError("must be an integer or null")
    return value


class FaultSettingsJson(TypedDict):
    """The fault settings as `/_sandbox/faults` shows them (and `updated` takes them, any subset)."""

    latencyMs: float
    latencyJitterMs: float
    errorRate: float
    timeoutRate: float
    timeoutSeconds: float
    rateLimitRate: float
    lostAnswerRate: float
    retryAfter: int
    methods: list[str]
    failNext: list[FailRuleJson]
    seed: int | None
    unknownFields: str


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

    def to_json(self) -> FaultSettingsJson:
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

    def updated(self, data: Mapping[str, object]) -> Self:
        """These settings with the (camelCase, JSON) `data` applied; raise FaultSettingsError on bad values."""
        # Each change has the type of its attribute, as the parser `_SETTING_PARSERS` pairs with it returns.
        changes: dict[str, Any] = {}
        errors: dict[str, str] = {}
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
        """The answer that replaces the request's (only a fault with a `status` has one)."""
        if self.status is None:
            raise ValueError("a fault without a status has no response")
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
