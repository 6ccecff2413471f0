"""The one HTTP client for the Kodexa API.

Owns the base URL, the API key, a pooled `requests.Session`, timeouts and the retry policy: reads (GET) and
whole-record replacements (PUT) are retried on transient failures (timeouts, 429, 502-504, honouring Retry-After); a
POST is retried only when it provably never left this machine (the connection could not be opened). Every failure
becomes a typed `KodexaError` that carries the status and Kodexa's message and never the key. Every request that
leaves is counted and timed by operation and status (`metrics.series`), in `_send`, the one place it leaves.
"""

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from json import loads as json_loads
from typing import Any, cast
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from requests.utils import guess_json_utf
from urllib3.exceptions import NewConnectionError

from slices_admin.metrics.series import observe_kodexa_request

from . import errors
from .contract import ORCHESTRATOR_SLICE, Resource
from .pages import decode_page

logger = logging.getLogger(__name__)

_RETRYABLE_STATUSES = {429, 502, 503, 504}
_SAFE_TO_REPEAT = {"GET", "PUT"}
_NOT_JSON = "Kodexa answered with something that is not JSON."


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a Kodexa list answer (the platform's page object)."""

    content: list[dict[str, Any]]
    number: int
    size: int
    total_elements: int | None
    total_pages: int | None
    last: bool
    text: str = ""  # the answer as received, `content` under its key "content": the cache reads records from it
    record_texts: list[str] | None = None  # each record's JSON text, when asked for (`list(record_texts=True)`)


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: the JSON body and how long the round trip took (all attempts)."""

    status: int
    body: Any
    duration_ms: int
    text: str = ""  # the JSON text `body` was read from


class KodexaClient:
    @sensitive_variables("api_key")
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
        max_retries: int = 2,
        max_retry_wait: float = 10.0,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"x-api-key": api_key, "Accept": "application/json", "User-Agent": "slices-console/0.1"}
        )

    def __repr__(self) -> str:
        return f"<KodexaClient {self.target}>"

    @property
    def target(self) -> str:
        """The host this client talks to, safe to show anyone (no credentials, no key)."""
        parts = urlsplit(self.base_url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else self.base_url

    # --- operations ---------------------------------------------------------------------------------------------
    def create(self, resource: Resource, body: Mapping[str, Any], *, request_id: str = "") -> Answer:
        return self._request(
            "POST", f"/api/{resource.path}", json=body, request_id=request_id, operation="create", resource=resource
        )

    def replace(self, resource: Resource, remote_id: str, body: Mapping[str, Any], *, request_id: str = "") -> Answer:
        path = self._record_path(resource, remote_id)
        return self._request("PUT", path, json=body, request_id=request_id, operation="replace", resource=resource)

    def get(self, resource: Resource, remote_id: str, *, request_id: str = "") -> Answer:
        path = self._record_path(resource, remote_id)
        return self._request("GET", path, request_id=request_id, operation="get", resource=resource)

    def ping(self) -> errors.KodexaError | None:
        """One cheap read (a one-row list) to tell whether Kodexa is there: None when it answered, even with a
        refusal such as a 404 or a 429; the failure when it did not answer (unreachable, timeout, 5xx) or refused
        the console's key."""
        try:
            self._page(ORCHESTRATOR_SLICE, {"page": 1, "pageSize": 1, "sort": "updatedOn,desc"}, operation="ping")
        except errors.KodexaRateLimited:
            return None  # slow down, but there
        except (errors.KodexaUnavailable, errors.KodexaAuthError) as exc:
            return exc
        except errors.KodexaError:
            return None  # any other answer (a 404, an odd body…) shows it is there
        return None

    def list(
        self,
        resource: Resource,
        *,
        page: int = 1,
        page_size: int = 100,
        sort: str = "updatedOn,desc",
        filter: str | None = None,
        record_texts: bool = False,
    ) -> Page:
        """One page of a list; `record_texts`: keep each record's JSON text too (`Page.record_texts`)."""
        params: dict[str, Any] = {"page": page, "pageSize": page_size, "sort": sort}
        if filter:
            params["filter"] = filter
        return self._page(resource, params, operation="list", record_texts=record_texts)

    def _page(self, resource: Resource, params: dict[str, Any], *, operation: str, record_texts: bool = False) -> Page:
        path = f"/api/{resource.path}"
        answer = self._request(
            "GET", path, params=params, operation=operation, resource=resource, decode=not record_texts
        )
        body, texts = answer.body, None
        if record_texts:
            try:
                body, texts = decode_page(answer.text)
            except ValueError as exc:
                raise errors.KodexaProtocolError(
                    answer.status, "Kodexa answered with something that is not JSON."
                ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise errors.KodexaProtocolError(200, "Kodexa's list answer is not a page object.")
        content = body["content"]
        page, page_size = params["page"], params["pageSize"]
        return Page(
            content=content,
            number=body.get("number", page),
            size=body.get("size", page_size),
            total_elements=body.get("totalElements"),
            total_pages=body.get("totalPages"),
            last=bool(body.get("last", len(content) < page_size)),
            text=answer.text,
            record_texts=texts,
        )

    # --- transport ----------------------------------------------------------------------------------------------
    @staticmethod
    def _record_path(resource: Resource, remote_id: str) -> str:
        return f"/api/{resource.path}/{quote(str(remote_id), safe='')}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        request_id: str = "",
        operation: str,
        resource: Resource,
        decode: bool = True,
    ) -> Answer:
        url = self.base_url + path
        headers = {"X-Request-ID": request_id} if request_id else {}
        repeatable = method in _SAFE_TO_REPEAT
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            retries_left = attempt <= self.max_retries
            try:
                response = self._send(method, url, operation, resource, json=json, params=params, headers=headers)
            except requests.ConnectTimeout as exc:
                if retries_left:  # the connection never opened: nothing was sent, any method may repeat
                    self._backoff(attempt)
                    continue
                raise errors.KodexaUnreachable(
                    None, f"Could not connect to Kodexa at {self.target}.", duration_ms=_since(started)
                ) from exc
            except requests.ReadTimeout as exc:
                if repeatable and retries_left:
                    self._backoff(attempt)
                    continue
                raise errors.KodexaTimeout(
                    None,
                    f"Kodexa at {self.target} did not answer within {self.timeout[1]:g} s.",
                    duration_ms=_since(started),
                ) from exc
            except requests.ConnectionError as exc:
                never_sent = _is_connection_refused(exc)
                if (repeatable or never_sent) and retries_left:
                    self._backoff(attempt)
                    continue
                raise errors.KodexaUnreachable(
                    None, f"Could not reach Kodexa at {self.target}.", duration_ms=_since(started)
                ) from exc
            except requests.exceptions.InvalidJSONError as exc:  # e.g. NaN: not JSON, so not sendable
                raise errors.KodexaValidationError(None, "The body is not valid JSON (NaN or Infinity?).") from exc
            except requests.RequestException as exc:
                raise errors.KodexaUnreachable(
                    None, f"Request to Kodexa failed: {type(exc).__name__}.", duration_ms=_since(started)
                ) from exc

            status = response.status_code
            if status in _RETRYABLE_STATUSES and repeatable and retries_left:
                wait = errors.retry_after_seconds(response)
                if wait is None or wait <= self.max_retry_wait:
                    self._sleep(wait if wait is not None else self._backoff_delay(attempt))
                    continue
            duration_ms = _since(started)
            logger.log(
                logging.DEBUG if status < 400 else logging.WARNING,
                "kodexa %s %s -> %s in %d ms (attempts=%d request_id=%s)",
                method,
                path,
                status,
                duration_ms,
                attempt,
                request_id or "-",
            )
            if status >= 400:
                # The key stays out of this frame's locals (error reports show them). The header is a str: `__init__`
                # set it from one; requests types header values as str | bytes.
                error = errors.from_response(
                    response, secret=cast(str, self.session.headers.get("x-api-key", "")), duration_ms=duration_ms
                )
                error.attempts = attempt
                raise error
            body, text = _json_body(response, decode=decode)
            return Answer(status=status, body=body, duration_ms=duration_ms, text=text)

    def _send(self, method: str, url: str, operation: str, resource: Resource, **kwargs: Any) -> requests.Response:
        """The one place a request leaves for Kodexa: each one (a retry too) counted and timed, with the status code
        of its answer or why there was none."""
        started = time.perf_counter()
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.InvalidJSONError:
            raise  # refused before sending: nothing left
        except requests.RequestException as exc:
            observe_kodexa_request(operation, resource.path, _no_answer(exc), time.perf_counter() - started)
            raise
        observe_kodexa_request(operation, resource.path, str(response.status_code), time.perf_counter() - started)
        return response

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter: 0..(0.25 s * 2^(attempt-1)), capped at the max wait."""
        return random.uniform(0, min(self.max_retry_wait, 0.25 * 2 ** (attempt - 1)))

    def _backoff(self, attempt: int) -> None:
        self._sleep(self._backoff_delay(attempt))


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _no_answer(exc: requests.RequestException) -> str:
    """The status label of a request that got no answer."""
    if isinstance(exc, requests.ConnectTimeout | requests.ConnectionError):
        return "unreachable"  # (a connect timeout is both: the connection never opened)
    if isinstance(exc, requests.Timeout):
        return "timeout"
    return "error"


def _is_connection_refused(exc: requests.ConnectionError) -> bool:
    """True when the TCP connection was never established, so the request cannot have reached the server."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 wraps it in a MaxRetryError
    return isinstance(reason, NewConnectionError)


def _json_body(response: requests.Response, *, decode: bool = True) -> tuple[Any, str]:
    """The answer's JSON value (None unless `decode`) and its text, read as `Response.json` reads it but without
    guessing a charset by statistics when the answer names none."""
    content = response.content
    if not content:
        return None, ""
    try:
        text = content.decode(response.encoding or guess_json_utf(content) or "utf-8")  # type: ignore[no-untyped-call]
        return (json_loads(text) if decode else None), text
    except ValueError as exc:  # UnicodeDecodeError too
        raise errors.KodexaProtocolError(response.status_code, _NOT_JSON) from exc


@cache
def get_client() -> KodexaClient:
    """The process-wide client built from settings (one pooled session per process)."""
    return KodexaClient(
        settings.KODEXA_BASE_URL,
        settings.KODEXA_API_KEY,
        connect_timeout=settings.KODEXA_CONNECT_TIMEOUT,
        read_timeout=settings.KODEXA_READ_TIMEOUT,
        max_retries=settings.KODEXA_MAX_RETRIES,
        max_retry_wait=settings.KODEXA_MAX_RETRY_WAIT,
        pool_size=settings.KODEXA_POOL_SIZE,
    )


@receiver(setting_changed)
def _rebuild_client_on_settings_change(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("KODEXA_"):
        get_client.cache_clear()
