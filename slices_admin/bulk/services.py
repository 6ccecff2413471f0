"""Bulk status edits: preview a selection, create the job and its item ledger, cancel, follow up, report progress.

The work itself is done by runners (`runner.run_job`) in workers. A selection is a slice-list filter (stored as its
query string, resolved when the job is created) or a list of ids; every slice in it becomes one item.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from slices_admin.audit.models import AuditEntry, slice_url
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import OrchestratorSlice

from .changes import Change, runners_for
from .ledger import finish_cancelled
from .models import BulkEditItem, BulkEditJob
from .tasks import enqueue_runners

SAMPLE_SIZE = 10
_NOT_SELECTION = {"page", "pageSize", "sort"}


class BulkEditError(ValueError):
    """A bulk edit that cannot be made as asked, with a message per field (or `__all__`)."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# --- what is selected ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """The slices a bulk edit applies to: every slice matching a list filter, or the ids given."""

    filter: str | None = None  # the list's query string
    ids: tuple[str, ...] = ()

    @classmethod
    def from_filter(cls, params: Mapping[str, Any] | QueryDict) -> "Selection":
        query = params.copy() if isinstance(params, QueryDict) else _query(params)
        for name in _NOT_SELECTION:
            query.pop(name, None)
        return cls(filter=query.urlencode())

    @classmethod
    def from_ids(cls, ids: Sequence[str]) -> "Selection":
        return cls(ids=tuple(dict.fromkeys(str(i) for i in ids if str(i).strip())))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Selection":
        return cls(filter=data["filter"]) if "filter" in data else cls(ids=tuple(data.get("ids", ())))

    def to_json(self) -> dict[str, Any]:
        return {"filter": self.filter} if self.filter is not None else {"ids": list(self.ids)}

    def queryset(self) -> QuerySet[OrchestratorSlice]:
        if self.filter is not None:
            filterset, queryset = filtered_slices(OrchestratorSlice, QueryDict(self.filter))
            if not filterset.is_valid():
                raise BulkEditError({name: " ".join(errors) for name, errors in filterset.errors.items()})
            return queryset
        return OrchestratorSlice.objects.filter(id__in=self.ids).order_by("id")

    def describe(self) -> str:
        if self.filter is None:
            return f"{len(self.ids)} selected slice{'s' if len(self.ids) != 1 else ''}"
        query = QueryDict(self.filter)
        parts = [f"{name} = {', '.join(query.getlist(name))}" for name in sorted(query) if any(query.getlist(name))]
        return "All slices matching " + ("; ".join(parts) if parts else "no filter (every cached slice)")


def _query(params: Mapping[str, Any]) -> QueryDict:
    query = QueryDict(mutable=True)
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        query.setlist(name, [str(v).lower() if isinstance(v, bool) else str(v) for v in values])
    return query


# --- preview ------------------------------------------------------------------------------------------------------
@dataclass
class Preview:
    selection: Selection
    change: Change
    total: int = 0
    to_change: int = 0
    to_skip: int = 0
    before_statuses: dict[str, int] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)
    oldest_copy: datetime | None = None
    stale_copies: int = 0
    changed_recently: int = 0
    changed_by_others: int = 0
    gone: int = 0
    uncached: int = 0  # ids given that the cache does not hold: read from Kodexa when the job runs

    @property
    def needs_typed_confirmation(self) -> bool:
        return self.to_change > settings.BULK_CONFIRM_THRESHOLD

    @property
    def too_many(self) -> bool:
        return self.total > settings.BULK_MAX_ITEMS

    @property
    def warnings(self) -> list[str]:
        found = []
        if self.too_many:
            most = settings.BULK_MAX_ITEMS
            found.append(f"{self.total:,} slices are more than one job may hold ({most:,}): narrow the filter.")
        if self.stale_copies:
            found.append(
                f"The cached copy of {self.stale_copies:,} slice{'s' if self.stale_copies != 1 else ''} is older than "
                f"{settings.BULK_STALE_CACHE_MINUTES} minutes. Slices that changed on Kodexa since will come back "
                "as conflicts, not be overwritten; sync first to avoid that."
            )
        if self.changed_recently:
            found.append(
                f"{self.changed_recently:,} slice{'s' if self.changed_recently != 1 else ''} changed on Kodexa in the "
                f"last {settings.BULK_RECENT_CHANGE_MINUTES} minutes: something may still be working on them."
            )
        if self.changed_by_others:
            found.append(
                f"{self.changed_by_others:,} slice{'s' if self.changed_by_others != 1 else ''} were changed through "
                f"the console by someone else in the last {settings.BULK_RECENT_CHANGE_MINUTES} minutes."
            )
        if self.gone:
            found.append(f"{self.gone:,} selected slices are flagged as gone from Kodexa; they will fail.")
        if self.uncached:
            found.append(f"{self.uncached:,} of the ids are not in the cache: the job reads them from Kodexa.")
        return found


def preview(
    selection: Selection, change: Change, *, user: AbstractBaseUser | AnonymousUser | None = None, details: bool = True
) -> Preview:
    """What the edit would do, from the cache alone: nothing is sent to Kodexa. Without `details`, only the counts
    (what creating the job checks): no sample and no look at who else changed the slices."""
    rows = selection.queryset()
    result = Preview(selection, change)
    statuses: Counter[str] = Counter()
    skip_filter: dict[str, str | None] = {"status": change.target_status}
    if change.error_message is not None:
        skip_filter["error_message"] = change.error_message or None
    for status, count in rows.order_by().values_list("status").annotate(n=Count("id")):
        statuses[status or "—"] += count
    result.before_statuses = dict(statuses.most_common())
    result.total = sum(statuses.values())
    now = timezone.now()
    stale = now - timedelta(minutes=settings.BULK_STALE_CACHE_MINUTES)
    recent = now - timedelta(minutes=settings.BULK_RECENT_CHANGE_MINUTES)
    figures = rows.order_by().aggregate(
        skip=Count("id", filter=Q(**skip_filter)),
        oldest=Min("last_seen_at"),
        stale=Count("id", filter=Q(last_seen_at__lt=stale)),
        recent=Count("id", filter=Q(updated_on__gte=recent)),
        gone=Count("id", filter=Q(gone_at__isnull=False)),
    )
    result.to_skip, result.oldest_copy = figures["skip"], figures["oldest"]
    result.stale_copies, result.changed_recently, result.gone = figures["stale"], figures["recent"], figures["gone"]
    if selection.filter is None:
        result.uncached = len(selection.ids) - result.total
        result.total += result.uncached
    result.to_change = result.total - result.to_skip
    if not details:
        return result
    others = AuditEntry.objects.filter(
        resource=ORCHESTRATOR_SLICE.path,
        remote_id__in=rows.order_by().values("id"),
        occurred_at__gte=recent,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        action__in=AuditEntry.CHANGE_ACTIONS,
    )
    if user is not None:
        others = others.exclude(actor_username=user.get_username())
    result.changed_by_others = others.values("remote_id").distinct().count()
    for row in rows.exclude(**skip_filter).only("id", "status", "error_message", "updated_on")[:SAMPLE_SIZE]:
        result.sample.append(
            {
                "id": row.id,
                "url": slice_url("orchestrator", row.id),
                "before_status": row.status,
                "after_status": change.target_status,
                "before_error": row.error_message,
                "after_error": row.error_message if change.error_message is None else (change.error_message or None),
                "updated_on": row.updated_on,
            }
        )
    return result


# --- the job ------------------------------------------------------------------------------------------------------
def create_job(
    selection: Selection,
    change: Change,
    *,
    context: AuditContext,
    confirmed_count: int | None = None,
    confirmed: bool = False,
    retry_of: BulkEditJob | None = None,
    follow_up_kind: str = "",
    expected: Mapping[str, int | None] | None = None,
) -> BulkEditJob:
    """Resolve the selection into items and queue the job. Over the threshold, `confirmed_count` must equal the
    number of slices that will change now (so a selection that grew since the preview is caught)."""
    problems = change.errors()
    if problems:
        raise BulkEditError(problems)
    seen = preview(selection, change, details=False)
    if seen.total == 0:
        raise BulkEditError({"__all__": "No slice matches this selection any more; nothing to do."})
    if seen.too_many:
        raise BulkEditError({"__all__": seen.warnings[0]})
    if seen.needs_typed_confirmation and not confirmed and confirmed_count != seen.to_change:
        raise BulkEditError(
            {
                "confirmCount": f"Type {seen.to_change:,} (the number of slices that will change) to confirm."
                if confirmed_count is None
                else f"The selection now changes {seen.to_change:,} slices, not {confirmed_count:,}: "
                "review the preview again."
            }
        )
    with transaction.atomic():
        job = BulkEditJob.objects.create(
            created_by=context.actor,
            selection=selection.to_json(),
            selection_label=selection.describe()[:500],
            target_status=change.target_status,
            error_message=change.error_message,
            reason=change.reason.strip(),
            concurrency=settings.BULK_CONCURRENCY,
            retry_of=retry_of,
            follow_up_kind=follow_up_kind,
        )
        items = _items(job, selection, change, expected)
        BulkEditItem.objects.bulk_create(items, batch_size=2000)
        record_attempt(
            context.but(bulk_job_id=job.pk, reason=job.reason),
            action=AuditEntry.Action.BULK_START,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            resource=ORCHESTRATOR_SLICE.path,
            request_body={
                "selection": job.selection,
                "targetStatus": job.target_status,
                "errorMessage": job.error_message,
                "items": len(items),
                "toChange": sum(1 for item in items if item.state == BulkEditItem.State.PENDING),
            },
        )
        transaction.on_commit(lambda: enqueue_runners(job.pk, runners_for(job.concurrency)))
    return job


def _items(
    job: BulkEditJob, selection: Selection, change: Change, expected: Mapping[str, int | None] | None
) -> list[BulkEditItem]:
    cached = {
        row["id"]: row
        for row in selection.queryset().values("id", "status", "error_message", "change_sequence").iterator(2000)
    }
    ids = list(cached) if selection.filter is not None else list(selection.ids)
    items = []
    for slice_id in ids:
        row = cached.get(slice_id)
        item = BulkEditItem(job=job, slice_id=slice_id)
        if row is not None:
            item.before_status = row["status"] or ""
            item.expected_change_sequence = row["change_sequence"]
        if expected is not None and slice_id in expected:
            item.expected_change_sequence = expected[slice_id]
        if row is not None and expected is None and change.already_applied(row["status"], row["error_message"]):
            item.state, item.finished_at = BulkEditItem.State.SKIPPED, timezone.now()
            item.message = f"Already {row['status']}: nothing to change."
        items.append(item)
    return items


def cancel_job(job: BulkEditJob, *, context: AuditContext) -> BulkEditJob:
    """Stop sending: the runner finishes the requests already out and marks everything not yet sent cancelled.
    A job no runner has started is cancelled here and now."""
    with transaction.atomic():
        job = BulkEditJob.objects.select_for_update().get(pk=job.pk)
        if job.finished or job.cancel_requested_at:
            return job
        job.cancel_requested_at, job.cancelled_by = timezone.now(), context.actor
        job.save(update_fields=["cancel_requested_at", "cancelled_by"])
        record_attempt(
            context.but(bulk_job_id=job.pk, reason=job.reason),
            action=AuditEntry.Action.BULK_CANCEL,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            resource=ORCHESTRATOR_SLICE.path,
        )
    if job.state == BulkEditJob.State.QUEUED:
        finish_cancelled(job)
        job.refresh_from_db()
    return job


def follow_up(job: BulkEditJob, kind: str, *, context: AuditContext) -> BulkEditJob:
    """A new job for just the failed items ("retry"), or for the conflicts on Kodexa's current version
    ("reapply": the operator has seen what changed and chooses to set the status on top of it). The button that
    asks is the confirmation; asking twice while the first follow-up runs is refused."""
    with transaction.atomic():  # one follow-up at a time: the check and the creation are one write
        job = BulkEditJob.objects.select_for_update().get(pk=job.pk)
        state = {"retry": BulkEditItem.State.FAILED, "reapply": BulkEditItem.State.CONFLICT}[kind]
        running = (
            job.follow_ups.filter(follow_up_kind=kind)
            .exclude(state__in=[BulkEditJob.State.FINISHED, BulkEditJob.State.CANCELLED])
            .first()
        )
        if running is not None:
            raise BulkEditError({"__all__": f"Bulk edit {running.pk} is already doing this; wait for it to finish."})
        items = list(job.items.filter(state=state).values("slice_id", "current_change_sequence"))
        if not items:
            raise BulkEditError({"__all__": f"Job {job.pk} has no {state} items."})
        expected = {i["slice_id"]: i["current_change_sequence"] for i in items} if kind == "reapply" else None
        verb = "Retry of the failures" if kind == "retry" else "Re-applied on the current version of the conflicts"
        change = Change(job.target_status, job.error_message, f"{verb} of job {job.pk}: {job.reason}"[:2000])
        selection = Selection.from_ids([i["slice_id"] for i in items])
        return create_job(
            selection,
            change,
            context=context,
            confirmed=True,
            retry_of=job,
            follow_up_kind=kind,
            expected=expected,
        )


# --- progress -----------------------------------------------------------------------------------------------------
@dataclass
class Progress:
    job: BulkEditJob
    counts: dict[str, int]
    total: int
    done: int
    rate: float | None  # items finished per second while running
    seconds_left: float | None

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def progress(job: BulkEditJob) -> Progress:
    return progress_of([job])[job.pk]


def progress_of(jobs: list[BulkEditJob]) -> dict[int, Progress]:
    """Each job's progress, in one query however many jobs (lists of jobs would otherwise ask per job): items by
    state, and of them the ones this run of the job worked on (a resumed or retried job counts from its latest
    start), for its rate."""
    counts = {job.pk: dict.fromkeys(BulkEditItem.State.values, 0) for job in jobs}
    worked = dict.fromkeys(counts, 0)
    since_start = Q(job__started_at__isnull=False, finished_at__gte=F("job__started_at"))
    this_run = since_start & ~Q(state=BulkEditItem.State.CANCELLED)
    rows = (
        BulkEditItem.objects.filter(job__in=jobs)
        .order_by()
        .values_list("job", "state")
        .annotate(n=Count("id"), worked=Count("id", filter=this_run))
    )
    for job_id, state, count, in_this_run in rows:
        counts[job_id][state] = count
        worked[job_id] += in_this_run
    now = timezone.now()
    result = {}
    for job in jobs:
        total = sum(counts[job.pk].values())
        done = sum(counts[job.pk][state] for state in BulkEditItem.FINAL_STATES)
        rate = seconds_left = None
        if job.started_at and worked.get(job.pk):
            elapsed = max(((job.finished_at or now) - job.started_at).total_seconds(), 0.001)
            rate = worked[job.pk] / elapsed
            if not job.finished:
                seconds_left = (total - done) / rate
        result[job.pk] = Progress(job, counts[job.pk], total, done, rate, seconds_left)
    return result
