"""The numbers on the landing page, each with the list query that shows the slices behind it.

Aggregates over a million cached rows take tens of milliseconds each, so the whole set is cached briefly and the
page says how old it is.
"""

import datetime as dt
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from slices_admin.kodexa.schemas import format_datetime

from .models import OrchestratorSlice

CACHE_KEY = "dashboard:orchestrator"
QUEUED_STATUSES = ("PENDING", "REQUESTED")


@dataclass(frozen=True)
class Figure:
    label: str
    value: int
    query: str  # the list's query string for the slices behind this number
    share: float = 0.0  # of the largest figure in its group, 0..1, for bars


@dataclass(frozen=True)
class RuntimeDurations:
    runtime: str
    count: int
    p50_ms: int
    p95_ms: int
    query: str


@dataclass
class Dashboard:
    computed_at: dt.datetime
    by_status: list[Figure] = field(default_factory=list)
    total: int = 0
    lease_expired: Figure | None = None
    queued_too_long: Figure | None = None
    recent_failures: list[Figure] = field(default_factory=list)
    durations: list[RuntimeDurations] = field(default_factory=list)
    failure_window_hours: int = 24
    queued_threshold_minutes: int = 30


def _query(**params) -> str:
    return urlencode(params, doseq=True)


def _by_status(now) -> list[Figure]:
    rows = OrchestratorSlice.objects.values("status").annotate(n=Count("id")).order_by("-n")
    counts = [(row["status"] or "", row["n"]) for row in rows]
    top = max((n for _s, n in counts), default=1)
    return [Figure(status or "(none)", n, _query(status=status), n / top) for status, n in counts]


def _percentile_ms(runtime: str, count: int, fraction: float) -> int:
    offset = min(count - 1, int(fraction * (count - 1)))
    values = (
        OrchestratorSlice.objects.filter(module_runtime_id=runtime, duration_ms__isnull=False)
        .order_by("duration_ms")
        .values_list("duration_ms", flat=True)
    )
    return values[offset]


def _durations() -> list[RuntimeDurations]:
    runtimes = (
        OrchestratorSlice.objects.filter(duration_ms__isnull=False)
        .values("module_runtime_id")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    result = []
    for row in runtimes[:20]:
        runtime, count = row["module_runtime_id"], row["n"]
        result.append(
            RuntimeDurations(
                runtime=runtime or "(none)",
                count=count,
                p50_ms=_percentile_ms(runtime, count, 0.50),
                p95_ms=_percentile_ms(runtime, count, 0.95),
                query=_query(moduleRuntimeId=runtime or "", sort="-durationMs"),
            )
        )
    return result


def _recent_failures(now, hours: int) -> list[Figure]:
    since = now - dt.timedelta(hours=hours)
    rows = (
        OrchestratorSlice.objects.filter(status="FAILED", updated_on__gte=since)
        .values("error_message")
        .annotate(n=Count("id"))
        .order_by("-n")[:10]
    )
    rows = list(rows)
    top = max((row["n"] for row in rows), default=1)
    return [
        Figure(
            row["error_message"] or "(no message)",
            row["n"],
            _query(status="FAILED", q=row["error_message"] or "", updatedOn_after=format_datetime(since)),
            row["n"] / top,
        )
        for row in rows
    ]


def compute(now=None) -> Dashboard:
    now = now or timezone.now()
    threshold = settings.STUCK_QUEUED_MINUTES
    queued_before = now - dt.timedelta(minutes=threshold)
    by_status = _by_status(now)
    queued_long = OrchestratorSlice.objects.filter(
        status__in=QUEUED_STATUSES, started_at__isnull=True, queued_at__lt=queued_before
    ).count()
    expired = OrchestratorSlice.objects.filter(open_lease_expires_at__lt=now).count()
    return Dashboard(
        computed_at=now,
        by_status=by_status,
        total=sum(f.value for f in by_status),
        lease_expired=Figure("Lease expired, not completed", expired, _query(leaseExpired="true")),
        queued_too_long=Figure(
            f"Queued more than {threshold} min, not started",
            queued_long,
            _query(status=list(QUEUED_STATUSES), queuedAt_before=format_datetime(queued_before), sort="queuedAt"),
        ),
        recent_failures=_recent_failures(now, settings.DASHBOARD_FAILURE_WINDOW_HOURS),
        durations=_durations(),
        failure_window_hours=settings.DASHBOARD_FAILURE_WINDOW_HOURS,
        queued_threshold_minutes=threshold,
    )


_computing = threading.Lock()


def current(max_age_seconds: int = 15) -> Dashboard:
    """The dashboard, computed at most every `max_age_seconds` per process. Once it is older, one request computes
    the next while the others are served the one they have (the page says how old it is): under load, a burst of
    requests must not all compute the same aggregates at once."""
    dashboard = cache.get(CACHE_KEY)
    if dashboard is not None and _age(dashboard) < max_age_seconds:
        return dashboard
    if not _computing.acquire(blocking=dashboard is None):
        return dashboard  # another request is computing the next one
    try:
        fresh = cache.get(CACHE_KEY)
        if fresh is not None and _age(fresh) < max_age_seconds:  # computed while this request waited
            return fresh
        dashboard = compute()
        cache.set(CACHE_KEY, dashboard, max_age_seconds * 20)  # kept to serve while the next is computed
        return dashboard
    finally:
        _computing.release()


def _age(dashboard: Dashboard) -> float:
    return (timezone.now() - dashboard.computed_at).total_seconds()
