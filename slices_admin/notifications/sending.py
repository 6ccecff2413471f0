"""One POST of a message to the webhook, and what its outcome means: delivered, try again later, or give up. The
HTTP is here and nowhere else; what is said about a failure never holds the URL (a Slack webhook's URL is itself a
secret) or the signing secret."""

import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

from slices_admin.core.logs import redact_text
from slices_admin.kodexa.errors import retry_after_seconds

from . import signing

logger = logging.getLogger(__name__)

USER_AGENT = "slices-console-webhooks/1"
ANSWER_QUOTED = 200  # characters of a refusing receiver's answer kept in the error
RETRY_AFTER_CAP = 3600.0  # seconds: the longest Retry-After honoured
RETRIED_STATUSES = frozenset({408, 429})  # besides every 5xx: the receiver asks to be tried again later


@dataclass(frozen=True)
class Sent:
    """The outcome of one try."""

    delivered: bool
    retryable: bool = False
    status_code: int | None = None
    error: str = ""
    retry_after: float | None = None  # seconds, as the receiver asked (429, 503)


def post(url: str, secret: str, body: str, *, event: str, delivery_id: str) -> Sent:
    """POST the body, signed if there is a secret, without following redirects."""
    data = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_HEADER: event,
        signing.DELIVERY_HEADER: delivery_id,
    }
    if secret:
        headers.update(signing.signed_headers(secret, data))
    timeout = settings.BULK_WEBHOOK_TIMEOUT
    try:
        response = _session().post(url, data=data, headers=headers, timeout=timeout, allow_redirects=False, stream=True)
    except requests.Timeout:
        return Sent(False, retryable=True, error=f"No answer within {timeout:g} s (timed out).")
    except requests.ConnectionError as exc:
        return Sent(False, retryable=True, error=f"Could not connect to {host_of(url)}: {_why(exc)}.")
    except requests.RequestException as exc:  # an invalid URL and the like: trying again changes nothing
        return Sent(False, error=f"The request could not be made ({type(exc).__name__}); check BULK_WEBHOOK_URL.")
    with response:
        return outcome(response.status_code, _beginning(response), retry_after_seconds(response))


def outcome(status: int, answer: str = "", retry_after: float | None = None) -> Sent:
    """What an HTTP answer means: 2xx delivered; 5xx, 408 and 429 worth another try; anything else final (a 4xx
    says the message or the URL is wrong, a 3xx that the URL has moved)."""
    if 200 <= status < 300:
        return Sent(True, status_code=status)
    quoted = " ".join(redact_text(_without_secrets(answer)).split())[:ANSWER_QUOTED]
    error = f"The receiver answered {status}" + (f": {quoted}" if quoted else ".")
    if 300 <= status < 400:
        error += " (a redirect: set BULK_WEBHOOK_URL to the address it points to)"
    retryable = status >= 500 or status in RETRIED_STATUSES
    return Sent(False, retryable=retryable, status_code=status, error=error, retry_after=retry_after)


def backoff(tries: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the `tries`-th failed try: BULK_WEBHOOK_BACKOFF_SECONDS doubling (10, 20, 40, 80, 160 s
    by default), or longer if the receiver asked for longer."""
    wait: float = settings.BULK_WEBHOOK_BACKOFF_SECONDS * 2.0 ** max(tries - 1, 0)
    return max(wait, min(retry_after or 0.0, RETRY_AFTER_CAP))


def host_of(url: str) -> str:
    """The host (and port) a URL names, without its credentials, path or query: what logs and pages may show."""
    parts = urlsplit(url)
    host = parts.hostname or "the webhook"
    return f"{host}:{parts.port}" if parts.port else host


def _beginning(response: requests.Response) -> str:
    """The start of the receiver's answer (all of it is never read: it could be anything, of any size)."""
    try:
        head = next(response.iter_content(ANSWER_QUOTED * 4), b"")
    except requests.RequestException:
        return ""
    return head.decode(response.encoding or "utf-8", errors="replace") if isinstance(head, bytes) else str(head)


def _why(exc: requests.ConnectionError) -> str:
    """Why a connection failed, in a few words that hold no URL."""
    text = str(exc).lower()
    for clue, said in (
        ("refused", "connection refused"),
        ("name or service not known", "the host name is unknown"),
        ("nodename nor servname", "the host name is unknown"),
        ("temporary failure in name resolution", "the host name could not be resolved"),
        ("certificate", "its TLS certificate was refused"),
        ("ssl", "the TLS handshake failed"),
        ("reset", "the connection was reset"),
        ("remotedisconnected", "the connection was closed without an answer"),
        ("aborted", "the connection was closed without an answer"),
    ):
        if clue in text:
            return said
    return "the connection failed"


def _without_secrets(text: str) -> str:
    """A receiver's answer without the secret, the URL or the URL's path (which may carry a token) in it."""
    url = settings.BULK_WEBHOOK_URL
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    for secret in (settings.BULK_WEBHOOK_SECRET, url, path if len(path) > 1 else ""):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


_local = threading.local()


def _session() -> requests.Session:
    """One pooled session per thread that sends (a worker's notifications thread, in practice)."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session
