"""The numbers on the landing page, each with the list query that shows the slices behind it.

Computing them takes seconds over a million cached rows, so no page view does: the background workers
(`manage.py db_worker`) compute them every `DASHBOARD_REFRESH_SECONDS` and store them (`DashboardSnapshot`), and
pages read the stored ones and say how old they are. The bigger the cache, the longer a compute takes, and the
rarer it is: never more often than its duration divided by `DASHBOARD_MAX_LOAD` (the share of one database core it
may take), so a table ten times larger does not cost the pages ten times more. Only when there are none stored, or
they are older than `DASHBOARD_STALE_SECONDS` (or two spacings: no worker is running, as with `runserver` alone or
in tests), does a page view compute them itself.
"""

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Count, Q
from django.utils import timezone

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.kodexa.schemas import format_datetime

from .models import DashboardSnapshot, OrchestratorSlice

logger = logging.getLogger(__name__)

CACHE_KEY = "dashboard:orchestrator"  # the stored dashboard, kept in the process for READ_EVERY_SECONDS
READ_EVERY_SECONDS = 2
SNAPSHOT_KEY = ORCHESTRATOR_SLICE.path
CLAIM_SECONDS = 60  # a compute not finished in this long is taken to have died with its process
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
    compute_ms: int = 0  # what computing these figures took


def _query(**params: str | list[str]) -> str:
    return urlencode(params, doseq=True)


def _by_status(now: dt.datetime) -> list[Figure]:
    rows = OrchestratorSlice.objects.values("status").annotate(n=Count("*")).order_by("-n")
    counts = [(row["status"] or "", row["n"]) for row in rows]
    top = max((n for _s, n in counts), default=1)
    return [Figure(status or "(none)", n, _query(status=status), n / top) for status, n in counts]


def _percentile_ms(runtime: str | None, count: int, fraction: float) -> int:
    """The duration at `fraction` of the runtime's slices, read from the nearer end of its duration index (the 95th
    percentile is 5% from the top, not 95% from the bottom)."""
    offset = min(count - 1, int(fraction * (count - 1)))
    from_top = offset > (count - 1) // 2
    values = (
        OrchestratorSlice.objects.filter(module_runtime_id=runtime, duration_ms__isnull=False)
        .order_by("-duration_ms" if from_top else "duration_ms")
        .values_list("duration_ms", flat=True)
    )
    return cast(int, values[count - 1 - offset if from_top else offset])  # the filter leaves out null durations


def _durations() -> list[RuntimeDurations]:
    runtimes = (
        OrchestratorSlice.objects.filter(duration_ms__isnull=False)
        .values("module_runtime_id")
        .annotate(n=Count("*"))
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


def _recent_failures(now: dt.datetime, hours: int) -> list[Figure]:
    since = now - dt.timedelta(hours=hours)
    rows = list(
        OrchestratorSlice.objects.filter(status="FAILED", updated_on__gte=since)
        .values("error_message")
        .annotate(n=Count("*"))
        .order_by("-n")[:10]
    )
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


def compute(now: dt.datetime | None = None) -> Dashboard:
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


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as JSON values, for `DashboardSnapshot.figures`; `from_json` gives it back unchanged."""
    return {**asdict(dashboard), "computed_at": dashboard.computed_at.isoformat()}


def from_json(data: dict[str, Any]) -> Dashboard:
    data = dict(data)
    return Dashboard(
        computed_at=dt.datetime.fromisoformat(data.pop("computed_at")),
        by_status=[Figure(**value) for value in data.pop("by_status")],
        lease_expired=_figure(data.pop("lease_expired")),
        queued_too_long=_figure(data.pop("queued_too_long")),
        recent_failures=[Figure(**value) for value in data.pop("recent_failures")],
        durations=[RuntimeDurations(**value) for value in data.pop("durations")],
        **data,
    )


def _figure(value: dict[str, Any] | None) -> Figure | None:
    return None if value is None else Figure(**value)


def spacing_seconds(last_duration_ms: int | None) -> float:
    """How long a stored dashboard serves before the workers compute the next: `DASHBOARD_REFRESH_SECONDS`, or
    longer when computing it takes long, so that computing never takes more than `DASHBOARD_MAX_LOAD` of a core."""
    cost = (last_duration_ms or 0) / 1000 / settings.DASHBOARD_MAX_LOAD
    return max(settings.DASHBOARD_REFRESH_SECONDS, cost)


def refresh(max_age_seconds: float | None = None) -> Dashboard | None:
    """For the background workers, on every beat: compute and store the dashboard when the stored one is older than
    `max_age_seconds` (by default `spacing_seconds` of the last compute) and no other process is computing it. The
    new one, or None."""
    if max_age_seconds is None:
        max_age_seconds = spacing_seconds(_last_duration_ms())
    if not _claim(max_age_seconds):
        return None
    return _compute_and_store(claimed=True)


def _last_duration_ms() -> int | None:
    return DashboardSnapshot.objects.filter(pk=SNAPSHOT_KEY).values_list("duration_ms", flat=True).first()


_computing = threading.Lock()


def current() -> Dashboard:
    """The stored dashboard, read at most every READ_EVERY_SECONDS per process. With none stored, or one older than
    `DASHBOARD_STALE_SECONDS`, the request computes it: one request of a process at a time, and one process at a
    time (the claim), while the others are served the one they have."""
    dashboard = cache.get(CACHE_KEY)
    if dashboard is None:
        dashboard = _load()
        if dashboard is not None:
            cache.set(CACHE_KEY, dashboard, READ_EVERY_SECONDS)
    stale_after = max(settings.DASHBOARD_STALE_SECONDS, 2 * spacing_seconds(dashboard.compute_ms if dashboard else 0))
    if dashboard is not None and _age(dashboard) < stale_after:
        return dashboard
    if not _computing.acquire(blocking=dashboard is None):
        return dashboard  # another request of this process is computing the next one
    try:
        latest = _load()
        if latest is None or _age(latest) >= stale_after:
            claimed = _claim(stale_after)
            if not claimed and latest is not None:
                return latest  # another process is computing the next one
            latest = _compute_and_store(claimed=claimed)
        cache.set(CACHE_KEY, latest, READ_EVERY_SECONDS)
        return latest
    finally:
        _computing.release()


def _load() -> Dashboard | None:
    figures = DashboardSnapshot.objects.filter(pk=SNAPSHOT_KEY).values_list("figures", flat=True).first()
    if figures is None:
        return None
    try:
        return from_json(figures)
    except (KeyError, TypeError, ValueError):  # stored by a version of the console with other fields
        logger.warning("dashboard: the stored figures could not be read; they are computed again", exc_info=True)
        return None


def _claim(older_than_seconds: float) -> bool:
    """Take the sole right to compute the next dashboard, if the stored one is that old and no live claim is held.
    A conditional UPDATE rather than SELECT ... FOR UPDATE: no transaction stays open through the compute, which
    on SQLite would hold its one write lock for seconds."""
    now = timezone.now()
    DashboardSnapshot.objects.get_or_create(pk=SNAPSHOT_KEY)  # the row to claim, empty until the first compute
    due = Q(computed_at__isnull=True) | Q(computed_at__lte=now - dt.timedelta(seconds=older_than_seconds))
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claim = now + dt.timedelta(seconds=CLAIM_SECONDS)
    return DashboardSnapshot.objects.filter(due, free, pk=SNAPSHOT_KEY).update(claimed_until=claim) == 1


def _compute_and_store(*, claimed: bool) -> Dashboard:
    started = time.monotonic()
    snapshot = DashboardSnapshot.objects.filter(pk=SNAPSHOT_KEY)
    try:
        dashboard = compute()
    except BaseException:
        if claimed:  # the next beat tries again; if this fails too, the claim lapses
            with contextlib.suppress(DatabaseError):
                snapshot.update(claimed_until=None)
        raise
    dashboard.compute_ms = round((time.monotonic() - started) * 1000)
    stored = {"computed_at": dashboard.computed_at, "figures": to_json(dashboard), "duration_ms": dashboard.compute_ms}
    snapshot.update(**stored, **({"claimed_until": None} if claimed else {}))
    return dashboard


def _age(dashboard: Dashboard) -> float:
    return (timezone.now() - dashboard.computed_at).total_seconds()
