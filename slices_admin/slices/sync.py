"""Syncing the cache from Kodexa's list endpoints: full or incremental, page by page, and a recorded sync run carried
out and audited as one entry. Queuing a run is `services.start_sync`; the worker's task calls `perform_sync`.

The database going away mid-sync (a PostgreSQL restart) does not end the run: each of its writes is one that can be
made again (a page's upsert, the progress, the run's close and audit entry, written once), so it waits for the
database and makes it again (`core.database.through_outages`), and the run goes on from the page it had read."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.core.database import through_outages
from slices_admin.core.models import WorkerHeartbeat
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient, Page, get_client
from slices_admin.kodexa.contract import RESOURCES, Resource
from slices_admin.kodexa.schemas import parse_datetime

from .cache import cache_record, cache_records, refresh_statistics
from .models import MODELS, SliceRecord, SyncRun

logger = logging.getLogger(__name__)

Action, Outcome = AuditEntry.Action, AuditEntry.Outcome


@dataclass
class SyncProgress:
    pages: int = 0
    records: int = 0
    expected: int | None = None
    gone: int = 0
    newest_seen: datetime | None = None


def _list_page(client: KodexaClient, resource: Resource, number: int, size: int, sort: str) -> Page:
    try:
        return client.list(resource, page=number, page_size=size, sort=sort)
    except (errors.KodexaNotFound, errors.KodexaNotSupported) as exc:
        raise errors.KodexaNotSupported(
            exc.status,
            f"This Kodexa deployment has no list endpoint for {resource.label} ({exc.message}). "
            "The cache fills from the console's own reads and writes instead.",
        ) from exc


def _updated_on(payload: Mapping[str, Any]) -> datetime | None:
    stamp = payload.get("updatedOn")
    if not isinstance(stamp, str):  # missing, or not text: parse_datetime would refuse it too
        return None
    try:
        return parse_datetime(stamp).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a date-time with no UTC form
        return None


def sync_slices(
    resource: Resource,
    *,
    full: bool = False,
    since: datetime | None = None,
    page_size: int = 500,
    on_page: Callable[[SyncProgress], None] | None = None,
) -> SyncProgress:
    """Pull Kodexa's list endpoint page by page into the cache, upserting each page in one statement.

    Incremental (the default) reads newest `updatedOn` first and stops after the first page that reaches back to
    `since` (the newest record the previous sync read; everything when None). Full reads everything in creation
    order (stable while records change), then flags what Kodexa no longer returns as gone: each candidate is read
    once more, so a record that moved between pages is refreshed rather than flagged. Nothing is ever deleted.
    """
    client = get_client()
    started = timezone.now()
    sort = "createdOn,asc" if full else "updatedOn,desc"
    since = None if full else since
    progress = SyncProgress()
    while True:
        page = _list_page(client, resource, progress.pages + 1, page_size, sort)
        write = partial(_write_page, resource, page.content)
        progress.records += through_outages(write, f"writing page {progress.pages + 1} of a sync")
        progress.pages += 1
        if progress.expected is None and since is None:
            progress.expected = page.total_elements
        stamps = [stamp for stamp in map(_updated_on, page.content) if stamp is not None]
        if stamps and (progress.newest_seen is None or max(stamps) > progress.newest_seen):
            progress.newest_seen = max(stamps)
        if on_page:
            on_page(progress)
        if page.last or not page.content:
            break
        if since is not None and any(stamp <= since for stamp in stamps):
            break
    if full:
        progress.gone = _flag_gone(resource, seen_since=started)
        if on_page:
            on_page(progress)
    return progress


def _write_page(resource: Resource, records: list[dict[str, Any]]) -> int:
    with transaction.atomic():
        return cache_records(resource, records)


def _flag_gone(resource: Resource, *, seen_since: datetime) -> int:
    """Confirm with a read each record the full listing did not return; flag the ones Kodexa does not have.

    A read that fails for a passing reason leaves the record unflagged: only Kodexa saying it is gone counts.
    """
    model, client, gone = MODELS[resource], get_client(), 0
    candidates = model.objects.filter(last_seen_at__lt=seen_since, gone_at__isnull=True)
    # Read whole first (the ones a full listing missed: few), so a database restart cannot cut a cursor in half.
    remote_ids = through_outages(lambda: list(candidates.values_list("id", flat=True)), "listing records not seen")
    for remote_id in remote_ids:
        try:
            record = client.get(resource, remote_id).body
            through_outages(partial(cache_record, resource, record), "caching a record not seen in the listing")
        except (errors.KodexaNotFound, errors.KodexaNotSupported):  # 405: the listing is Kodexa's only word
            gone += through_outages(partial(_flag, model, remote_id), "flagging a record as gone")
        except errors.KodexaUnavailable:
            logger.warning("sync: could not confirm whether %s %s is gone", resource.label, remote_id)
    return gone


def _flag(model: type[SliceRecord], remote_id: str) -> int:
    return model.objects.filter(id=remote_id, gone_at__isnull=True).update(gone_at=timezone.now())


def perform_sync(
    run: SyncRun, *, page_size: int = 500, context: AuditContext | None = None, worker: str = ""
) -> SyncRun:
    """Carry out a recorded sync run, keeping its progress current for the page that watches it; the run is
    audited as one entry (who asked, what it read, how it ended). `worker`: the background worker doing it, whose
    heartbeat tells the others it still does (`fail_orphaned_runs`)."""
    started = timezone.now()
    run.status, run.started_at, run.worker = SyncRun.Status.RUNNING, started, worker
    save = partial(run.save, update_fields=["status", "started_at", "worker"])
    through_outages(save, f"starting sync run {run.pk}")

    def on_page(progress: SyncProgress) -> None:
        counts = {"pages": progress.pages, "records": progress.records, "expected": progress.expected}
        update = partial(SyncRun.objects.filter(pk=run.pk).update, **counts, gone=progress.gone)
        through_outages(update, f"recording the progress of sync run {run.pk}")

    previous = through_outages(
        SyncRun.objects.filter(resource=run.resource, status=SyncRun.Status.SUCCEEDED, newest_seen__isnull=False)
        .exclude(pk=run.pk)
        .order_by("-newest_seen")
        .first,
        f"reading the sync before run {run.pk}",
    )
    try:
        progress = sync_slices(
            RESOURCES[run.resource],
            full=run.mode == SyncRun.Mode.FULL,
            since=previous.newest_seen if previous else None,
            page_size=page_size,
            on_page=on_page,
        )
    except errors.KodexaError as exc:
        status, error = SyncRun.Status.FAILED, f"{exc.message} {exc.advice}"
    except Exception:
        logger.exception("sync run %s failed", run.pk)
        status, error = SyncRun.Status.FAILED, "The sync failed unexpectedly; the server log has the details."
    else:
        status, error = SyncRun.Status.SUCCEEDED, ""
        through_outages(partial(_note_newest, run, progress.newest_seen), f"finishing sync run {run.pk}")
    close = partial(_close_run, run, context, status=status, error=error, page_size=page_size)
    through_outages(close, f"recording the end of sync run {run.pk}")
    return run


def fail_orphaned_runs() -> list[int]:
    """Close, as failed and audited, the runs whose background worker stopped while carrying them out (killed, its
    host gone): nothing else would, and a run left `running` holds back every later sync of its resource. What
    they wrote stays (each page is whole); the next sync reads it all again. Answers the runs' ids."""
    alive_since = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
    alive = WorkerHeartbeat.objects.filter(seen_at__gte=alive_since).values("worker_id")
    orphans = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, started_at__lt=alive_since).exclude(worker="")
    closed = []
    for run in orphans.exclude(worker__in=alive):
        error = (
            f"The background worker carrying out this sync ({run.worker}) stopped before it finished. What it read "
            "is kept; start the sync again."
        )
        if _close_run(run, None, status=SyncRun.Status.FAILED, error=error, page_size=None):
            logger.warning("sync run %s: its worker %s stopped; closed as failed", run.pk, run.worker)
            closed.append(run.pk)
    return closed


def _note_newest(run: SyncRun, newest_seen: datetime | None) -> None:
    SyncRun.objects.filter(pk=run.pk).update(newest_seen=newest_seen)
    refresh_statistics(MODELS[RESOURCES[run.resource]])


def _close_run(run: SyncRun, context: AuditContext | None, *, status: str, error: str, page_size: int | None) -> bool:
    """The run's end and its one audit entry, together; nothing if it is closed already (a first try committed,
    and only its answer was lost with the connection, or another worker closed it). Answers whether it closed it."""
    if context is None:
        context = AuditContext(actor=run.requested_by) if run.requested_by else AuditContext.system("sync")
    with transaction.atomic():
        finished = timezone.now()
        open_run = SyncRun.objects.filter(pk=run.pk, finished_at__isnull=True)
        closed = open_run.update(status=status, error=error, finished_at=finished)
        run.refresh_from_db()
        if not closed:
            return False
        started = run.started_at or finished
        record_attempt(
            context,
            action=Action.SYNC,
            outcome=Outcome.SUCCEEDED if status == SyncRun.Status.SUCCEEDED else Outcome.FAILED,
            resource=run.resource,
            request_body={"mode": run.mode, "pageSize": page_size, "syncRun": run.pk},
            response_body={"pages": run.pages, "records": run.records, "expected": run.expected, "gone": run.gone},
            error=error,
            duration_ms=int((finished - started).total_seconds() * 1000),
        )
    return True
