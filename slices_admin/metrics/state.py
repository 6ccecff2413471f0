"""What the console's database says at scrape time: bulk edits by state, the background queue, how far behind the
syncs are, the workers' heartbeats and Kodexa's reachability as they last recorded it.

Gauges, not counters: each is read afresh (eight queries on indexes; none reads the cache or the audit log, or more
than the items of the bulk edits still open) and the answer reused for `METRICS_CACHE_SECONDS`, so scrapes of
several processes, or several Prometheus servers, cost the database little. A database that does not answer leaves
`..._database_up` at 0 and the rest out; the scrape still serves the counters.
"""

import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models import Count, Min, OuterRef, Subquery
from django.dispatch import receiver
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.bulk.pauses import OUTAGE
from slices_admin.core.caching import TimeLimitedCache
from slices_admin.core.models import KodexaStatus, WorkerHeartbeat
from slices_admin.kodexa.contract import RESOURCES
from slices_admin.slices.models import SyncRun

from .series import PREFIX

logger = logging.getLogger(__name__)

OPEN = [state for state in BulkEditJob.State if state not in BulkEditJob.ENDED]  # may have items not yet settled


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)


def _single(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def bulk_series(now: datetime) -> Iterator[Metric]:
    jobs = _gauge("bulk_jobs", "Bulk edits by state.", ["state"])
    counts = dict(BulkEditJob.objects.order_by().values_list("state").annotate(n=Count("id")))
    for job_state in BulkEditJob.State:
        jobs.add_metric([job_state.value], counts.get(job_state.value, 0))
    yield jobs

    items = _gauge(
        "bulk_open_job_items",
        "Items of the bulk edits not yet ended (queued, running, paused), by state: waiting, in flight, or the "
        "outcome each came to so far.",
        ["state"],
    )
    # The open jobs first, then their items through the (job, state) index: never a walk of every item ever made.
    open_jobs = BulkEditJob.objects.filter(state__in=OPEN).values("pk")
    open_items = BulkEditItem.objects.filter(job__in=open_jobs).order_by()
    counts = dict(open_items.values_list("state").annotate(n=Count("id")))
    for item_state in BulkEditItem.State:
        items.add_metric([item_state.value], counts.get(item_state.value, 0))
    yield items

    # A running job makes progress item by item; one that has not settled an item for long is stuck (no runner, a
    # runner hung). Jobs waiting out Kodexa's Retry-After or an outage are waiting, not stuck.
    # Each job's latest outcome from the (job, finished_at) index: one entry, however many items the job has.
    last_settled = BulkEditItem.objects.filter(job=OuterRef("pk"), finished_at__isnull=False).order_by("-finished_at")
    running = (
        BulkEditJob.objects.filter(state=BulkEditJob.State.RUNNING)
        .exclude(paused_until__gt=now)
        .exclude(pause_reason__startswith=OUTAGE)  # between its probes of Kodexa too
        .order_by()
        .annotate(last_settled=Subquery(last_settled.values("finished_at")[:1]))
        .values_list("started_at", "last_settled", "created_at")
    )
    stalls = [_age(now, settled or started or created) for started, settled, created in running]
    yield _single(
        "bulk_longest_stall_seconds",
        "The longest time any running bulk edit (not paused) has gone without an item reaching its outcome; 0 with "
        "none running.",
        max(stalls, default=0.0),
    )


def task_series(now: datetime) -> Iterator[Metric]:
    ready = _gauge("tasks_ready", "Background tasks waiting for a worker (due, not started), by queue.", ["queue"])
    oldest = _gauge(
        "tasks_oldest_ready_age_seconds", "How long the oldest due background task has waited, by queue.", ["queue"]
    )
    queues = {name: (0, None) for name in settings.TASKS["default"].get("QUEUES", [])}
    rows = (
        DBTaskResult.objects.ready()
        .order_by()
        .values_list("queue_name")
        .annotate(n=Count("id"), first=Min("enqueued_at"))
    )
    queues.update({name: (n, first) for name, n, first in rows})
    for name, (n, first) in sorted(queues.items()):
        ready.add_metric([name], n)
        oldest.add_metric([name], _age(now, first) if first else 0.0)
    yield ready
    yield oldest


def sync_series(now: datetime) -> Iterator[Metric]:
    last = _gauge(
        "sync_last_success_age_seconds",
        "Time since the last successful sync of a resource from Kodexa finished (absent: none yet).",
        ["resource"],
    )
    newest = _gauge(
        "sync_newest_record_age_seconds",
        "Age (by Kodexa's updatedOn) of the newest record the last successful sync of a resource read.",
        ["resource"],
    )
    for path in RESOURCES:
        run = (
            SyncRun.objects.filter(resource=path, status=SyncRun.Status.SUCCEEDED)
            .order_by("-created_at")
            .values_list("finished_at", "newest_seen")
            .first()
        )
        if run is None:
            continue
        finished_at, newest_seen = run
        if finished_at is not None:
            last.add_metric([path], _age(now, finished_at))
        if newest_seen is not None:
            newest.add_metric([path], _age(now, newest_seen))
    yield last
    yield newest


def worker_series(now: datetime) -> Iterator[Metric]:
    ages = _gauge(
        "worker_heartbeat_age_seconds",
        "Time since each background worker (host:pid) last recorded its heartbeat.",
        ["worker"],
    )
    alive = 0
    for worker_id, seen_at in WorkerHeartbeat.objects.order_by("worker_id").values_list("worker_id", "seen_at"):
        age = _age(now, seen_at)
        ages.add_metric([worker_id], age)
        alive += age <= settings.WORKER_HEARTBEAT_STALE_SECONDS
    yield ages
    yield _single(
        "workers_alive", "Background workers whose heartbeat is more recent than WORKER_HEARTBEAT_STALE_SECONDS.", alive
    )


def kodexa_series(now: datetime) -> Iterator[Metric]:
    status = KodexaStatus.objects.filter(pk=1).values_list("reachable", "checked_at").first()
    if status is None:  # no worker has probed Kodexa yet
        return
    reachable, checked_at = status
    yield _single("kodexa_up", "Whether Kodexa answered the background workers' last probe (1) or not (0).", reachable)
    yield _single(
        "kodexa_check_age_seconds", "Time since a background worker last probed Kodexa.", _age(now, checked_at)
    )


SECTIONS = (bulk_series, task_series, sync_series, worker_series, kodexa_series)


def read_state() -> list[Metric]:
    """Every gauge of this module, read now, and whether the database answered."""
    now = timezone.now()
    try:
        families, read = [family for section in SECTIONS for family in section(now)], True
    except Exception:
        logger.warning("metrics: the database could not be read for the console's state", exc_info=True)
        families, read = [], False
    up = _single("database_up", "Whether the console's state could be read from its database for this scrape.", read)
    return [up, *families]


_last_read = TimeLimitedCache()


class ConsoleState:
    """The collector: `read_state`, reused for `METRICS_CACHE_SECONDS` (scrapes at once wait for one read)."""

    def collect(self) -> list[Metric]:
        return _last_read.get_or_compute("state", settings.METRICS_CACHE_SECONDS, read_state)

    def describe(self) -> list[Metric]:
        """Nothing to declare up front: registering must not read the database."""
        return []


@receiver(setting_changed)
def _forget_on_settings_change(*, setting: str, **kwargs: object) -> None:
    _last_read.clear()
