"""Typed Kodexa failures, one class per thing a caller can do something about.

Each carries the HTTP status (None when no answer came), a message a person can act on, and Kodexa's parsed
body. None of them ever holds the API key.
"""

import time
from email.utils import parsedate_to_datetime
from typing import Any

import requests


class KodexaError(Exception):
    """Base of every failure talking to Kodexa."""

    kind = "error"
    headline = "Kodexa did not apply the change"
    advice = "Try again; if it keeps failing, check the Kodexa deployment's status."

    def __init__(self, status: int | None, message: str, *, body: Any = None, duration_ms: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body
        self.duration_ms = duration_ms
        self.attempts = 1  # how many times the client sent the request before giving up

    @property
    def field_errors(self) -> dict[str, str]:
        """Kodexa's per-field messages (`{"errors": {"field": "message"}}`), when it sent any."""
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), dict):
            return {str(k): _text(v) for k, v in self.body["errors"].items()}
        return {}


class KodexaUnavailable(KodexaError):
    """Transient: the request may succeed later without any change on our side."""

    kind = "unavailable"


class KodexaTimeout(KodexaUnavailable):
    kind = "timeout"
    headline = "Kodexa did not answer in time"
    advice = "Kodexa may still have applied the change: refresh the record before trying again."


class KodexaUnreachable(KodexaUnavailable):
    kind = "unreachable"
    headline = "Could not reach Kodexa"
    advice = "Check that the Kodexa deployment is up and reachable from the console's server."


class KodexaServerError(KodexaUnavailable):
    kind = "server_error"
    advice = "Kodexa failed on its side. Try again in a minute."


class KodexaRateLimited(KodexaUnavailable):
    kind = "rate_limited"
    headline = "Kodexa is rate limiting the console"

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        retry_after: float | None = None,
        body: Any = None,
        duration_ms: int | None = None,
    ) -> None:
        super().__init__(status, message, body=body, duration_ms=duration_ms)
        self.retry_after = retry_after
        # An attribute like every error's (a caller may make it more precise), not a read-only property.
        if retry_after is None:
            self.advice = "Kodexa is rate limiting the console. Wait a little and try again."
        else:
            self.advice = f"Kodexa is rate limiting the console. Try again in {retry_after:g} s."


class KodexaAuthError(KodexaError):
    kind = "auth"
    headline = "Kodexa refused the console's credentials"
    advice = "Kodexa refused the console's API key: an administrator must check KODEXA_API_KEY."


class KodexaNotFound(KodexaError):
    kind = "not_found"
    headline = "Kodexa does not know this record"
    advice = "The record does not exist on Kodexa (any more); refresh the list."


class KodexaNotSupported(KodexaError):
    kind = "not_supported"
    advice = "This Kodexa deployment does not offer that operation."


class KodexaConflict(KodexaError):
    """A stale `changeSequence`: someone else changed the record since it was read."""

    kind = "conflict"
    headline = "Someone else changed this record"
    advice = "Someone else changed this record. Review the current version and apply your change to it."

    def __init__(self, status: int | None, message: str, *, body: Any = None, duration_ms: int | None = None) -> None:
        super().__init__(status, message, body=body, duration_ms=duration_ms)
        self.current: dict[str, Any] | None = None  # the record as it is now, when the caller could read it


class KodexaValidationError(KodexaError):
    kind = "validation"
    headline = "Kodexa rejected the values"
    advice = "Kodexa rejected the values: correct the fields it names and submit again."


class KodexaProtocolError(KodexaError):
    kind = "protocol"
    advice = "Kodexa's answer did not follow its API contract; report it to the platform team."


_BY_STATUS = {
    400: KodexaValidationError,
    401: KodexaAuthError,
    403: KodexaAuthError,
    404: KodexaNotFound,
    405: KodexaNotSupported,
    409: KodexaConflict,
    422: KodexaValidationError,
    429: KodexaRateLimited,
}


def scrub(value: Any, secret: str) -> Any:
    """`value` with every occurrence of `secret` blanked, however deep: Kodexa may echo the key it refused."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "[redacted]")
    if isinstance(value, dict):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secret) for v in value]
    return value


def from_response(response: requests.Response, *, secret: str = "", duration_ms: int | None = None) -> KodexaError:
    """The typed error for a non-2xx answer, with `secret` (the API key) scrubbed from everything it carries."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = response.text[:2000] or None
    body = scrub(body, secret)
    cls = _BY_STATUS.get(status) or (KodexaServerError if status >= 500 else KodexaError)
    message = f"Kodexa answered {status}"
    detail = _message_of(body)
    if detail:
        message += f": {detail}"
    kwargs: dict[str, Any] = {"body": body, "duration_ms": duration_ms}
    if cls is KodexaRateLimited:
        kwargs["retry_after"] = retry_after_seconds(response)
    return cls(status, message, **kwargs)


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:500]
        if isinstance(body.get("errors"), dict):
            return "; ".join(f"{k}: {_text(v)}" for k, v in body["errors"].items())[:500]
    if isinstance(body, str):
        return body.strip()[:200]
    return ""


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def retry_after_seconds(response: requests.Response) -> float | None:
    """The `Retry-After` header in seconds (delta or HTTP date), or None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
