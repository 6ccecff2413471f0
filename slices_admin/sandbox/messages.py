"""Requests, responses and error answers as the sandbox's API sees them, with no HTTP plumbing.

The bottom layer of the sandbox: every other module speaks in these types; `server` turns them into HTTP and back.
"""

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, TypeGuard, overload


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer: an int that is not a bool."""
    return type(value) is int


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class Headers(Protocol):
    """Request headers as the API reads them: one value (or None) by name (`http.server` matches names in any case)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as the API sees it: method, path (still percent-encoded), query, headers and raw body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes

    @overload
    def param(self, name: str, default: str) -> str: ...
    @overload
    def param(self, name: str, default: None = None) -> str | None: ...

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json_object(self, *, allow_empty: bool = False) -> dict[str, Any]:
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
