"""The counters and histograms the console updates as it works: requests it serves, calls it makes to Kodexa.

Every series has labels, so a process that never serves a request or calls Kodexa (a `migrate`, a `shell`) writes
nothing in multiprocess mode. Label values come from small fixed sets (view names, routes, methods, status codes,
operations), never from a raw path or anything a client chose.
"""

import logging
from collections.abc import Callable

from prometheus_client import Counter, Histogram, disable_created_metrics

logger = logging.getLogger(__name__)

PREFIX = "slices_console"

# No `_created` series beside each counter and histogram: multiprocess mode has none, and a scrape should read the
# same whichever mode the process runs in.
disable_created_metrics()

HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "Requests the console answered, by view (URL name, or route), method and status code.",
    ["view", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer a request (of a streamed answer: to its first byte), by view and method.",
    ["view", "method"],
)

KODEXA_REQUESTS = Counter(
    f"{PREFIX}_kodexa_requests",
    "HTTP requests sent to Kodexa (each retry is one), by operation, resource and status code, or timeout, "
    "unreachable or error when no answer came.",
    ["operation", "resource", "status"],
)
KODEXA_REQUEST_DURATION = Histogram(
    f"{PREFIX}_kodexa_request_duration_seconds",
    "Time of one HTTP request to Kodexa, answered or not, by operation and resource.",
    ["operation", "resource"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)

# Methods counted by name; anything else a client sends is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str | None) -> str:
    return method if method in KNOWN_METHODS else "other"


_failed_before = False


def counted(update: Callable[[], None]) -> None:
    """Apply one update to the series. Counting never fails what is counted: in multiprocess mode an update writes
    to a file, and a directory removed under a running process makes it fail; that is logged (once per process)."""
    global _failed_before
    try:
        update()
    except OSError:
        if not _failed_before:
            _failed_before = True
            logger.warning("metrics: could not count into the multiprocess directory; counts are lost", exc_info=True)


def observe_request(view: str, method: str, status: int, seconds: float) -> None:
    """One request answered, by the view that answered it."""

    def update() -> None:
        HTTP_REQUEST_DURATION.labels(view, method_label(method)).observe(seconds)
        HTTP_REQUESTS.labels(view, method_label(method), str(status)).inc()

    counted(update)


def observe_kodexa_request(operation: str, resource: str, status: str, seconds: float) -> None:
    """One request to Kodexa: answered (`status` is the code) or not (timeout, unreachable, error)."""

    def update() -> None:
        KODEXA_REQUESTS.labels(operation, resource, status).inc()
        KODEXA_REQUEST_DURATION.labels(operation, resource).observe(seconds)

    counted(update)
