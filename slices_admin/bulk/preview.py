"""What a bulk edit would do, from the cache alone: nothing is sent to Kodexa."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Min, Q
from django.utils import timezone

from slices_admin.audit.models import AuditEntry, slice_url
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE

from .changes import Change
from .selection import Selection

SAMPLE_SIZE = 10


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
    def needs_approval(self) -> bool:
        threshold = settings.BULK_APPROVAL_THRESHOLD
        return threshold is not None and self.to_change > threshold

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
