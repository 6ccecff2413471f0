"""Structured logs: one JSON object per line (plain text with LOG_FORMAT=plain), every line logged while a request
is served carrying its request id and user, and secrets blanked on the way out whatever a message, an exception or
an extra field holds. `settings.LOGGING` wires these together; `RequestLogMiddleware` writes the access log.

Nothing here may touch the database or raise: logging happens in error paths too.
"""

import contextlib
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings
from django.utils.functional import LazyObject, empty
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from .caching import TimeLimitedCache

REDACTED = "[redacted]"
MAX_LOGGED_TEXT = 64 * 1024  # longer messages and tracebacks are cut: a log line is not a data dump

_current_request: ContextVar = ContextVar("current_request", default=None)

# `name=value`, `name: value`, `"name": "value"` where the name ends like a secret (password, passwd, pwd, secret,
# token, api key, authorization, session id, cookie), an optional auth scheme kept ("Token", "Bearer"…), then the
# value. Not `maxTokens: 5` or `tokenizer=x`: the name must end right before the separator. The name's prefix is
# bounded: unbounded, a long line of dash-joined words (any URL path a visitor sends) costs quadratic time.
_NAMED_SECRET = re.compile(
    r"(?i)(\b[\w-]{0,40}(?:password|passwd|pwd|secret|token|api[-_]?key|authorization|session[-_]?id|cookie)"
    r"[\"']?\s*[:=]\s*[\"']?(?:(?:token|bearer|basic)\s+)?)"
    r"[^\s\"'&,;)}\]]+"
)
_BARE_AUTH = re.compile(r"(?i)\b((?:token|bearer)\s+)[A-Za-z0-9._~+/-]{20,}=*")  # "Token 9944b09…"
_URL_PASSWORD = re.compile(r"(://[^:/\s@]+:)[^@\s/]+@")  # postgres://user:secret@host
# A personal API token anywhere (`tokens.keys`): its public key id is kept, its secret part blanked.
_PERSONAL_TOKEN = re.compile(r"\b(slc_[0-9a-f]{10}_)[0-9a-f]{64}")


# --- the request being served --------------------------------------------------------------------------------------
@contextlib.contextmanager
def serving(request) -> Iterator[None]:
    """While the block runs, log lines of this thread (or task) belong to `request`."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def username_of(request, *, look_up: bool = False) -> str | None:
    """The signed-in user's name, None for anonymous. Unless `look_up`, a user not yet loaded from the session is
    reported as None rather than loaded: a log call must not query the database."""
    user = request.__dict__.get("user")  # set by AuthenticationMiddleware (lazily) or by DRF's authentication
    if user is None:
        return None
    if isinstance(user, LazyObject) and user._wrapped is empty and not look_up:
        return None
    try:
        return user.get_username() if user.is_authenticated else None
    except Exception:  # e.g. the database is down: the line is still written
        return None


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `user` to every line logged while a request is served (fields given as `extra` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current_request.get()
        if request is not None:
            if not hasattr(record, "request_id"):
                record.request_id = getattr(request, "request_id", None)
            if not hasattr(record, "user"):
                record.user = username_of(request)
        return True


# --- secrets --------------------------------------------------------------------------------------------------------
def redact_text(text: str) -> str:
    """`text` with the Kodexa API key, the identity provider's client secret, the metrics token, the webhook's secret
    and URL (a Slack webhook's URL is its secret), the audit checkpoint key, and anything that looks like a password,
    token or key blanked."""
    if len(text) > MAX_LOGGED_TEXT:
        text = text[:MAX_LOGGED_TEXT] + "…[truncated]"
    secrets = (settings.OIDC_RP_CLIENT_SECRET, settings.METRICS_TOKEN, settings.BULK_WEBHOOK_SECRET)
    for key in (settings.KODEXA_API_KEY, *secrets, settings.BULK_WEBHOOK_URL, settings.AUDIT_CHECKPOINT_KEY):
        if key and key in text:
            text = text.replace(key, REDACTED)
    text = _NAMED_SECRET.sub(rf"\1{REDACTED}", text)
    text = _BARE_AUTH.sub(rf"\1{REDACTED}", text)
    text = _PERSONAL_TOKEN.sub(rf"\1{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)


_STANDARD_ATTRIBUTES = frozenset(RESERVED_ATTRS) | {"message", "asctime", "request_id", "user"}
_SECRET_FIELD = re.compile(r"(?i)(password|passwd|pwd|secret|token|api[-_]?key|authorization|cookie)$")


class RedactSecretsFilter(logging.Filter):
    """The safety net: whatever a caller logs, the line written carries no secret. The message is rendered (its
    arguments too), the exception and stack formatted, and all of it redacted; extra text fields likewise."""

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what was given, readable
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact_text(str(message)), ()
        if record.exc_info:
            # Formatted here so the traceback text can be redacted; formatters use `exc_text` when `exc_info` is gone.
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD_ATTRIBUTES:
                continue
            if _SECRET_FIELD.search(name):
                setattr(record, name, REDACTED)
            elif isinstance(value, str):
                setattr(record, name, redact_text(value))
        return True


# --- requests for hosts the console does not serve -------------------------------------------------------------------
class DisallowedHostOnce(logging.Filter):
    """Django logs a request whose Host is not in ALLOWED_HOSTS at ERROR with a traceback, each time. It is a scanner
    or a misconfigured proxy, not a fault of the console: one WARNING line per host (again after an hour), without
    the traceback. The hosts remembered are bounded; the oldest is forgotten first."""

    REPEAT_AFTER_SECONDS = 3600
    MAX_HOSTS = 1000

    def __init__(self):
        super().__init__()
        self.logged = TimeLimitedCache(size=self.MAX_HOSTS)

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        host = str(getattr(request, "META", {}).get("HTTP_HOST", "")) or record.getMessage()
        if self.logged.get(host, self.REPEAT_AFTER_SECONDS):
            return False
        self.logged.put(host, True)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


# --- formats ---------------------------------------------------------------------------------------------------------
class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then the line's fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        # Django's loggers pass the request object along: its text holds the query string, and the request id and
        # user already say which request it was.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data, record, message_dict):
        log_data["time"] = None  # first on the line; the timestamp is filled in last
        super().add_fields(log_data, record, message_dict)


class PlainFormatter(logging.Formatter):
    """For people reading a terminal: `time level logger message [request_id user]`."""

    def __init__(self, fmt: str | None = None, *args, **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)-7s %(name)s %(message)s", *args, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += f" [{request_id} {getattr(record, 'user', None) or '-'}]"
        return line
