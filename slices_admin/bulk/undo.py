"""Undoing a bulk edit as one unit: each slice it changed goes back to the status and error message it had before,
but only where the record is still the one the edit wrote (the `changeSequence` Kodexa answered to its PUT, as the
cache has it now). A slice changed since is left alone and reported, never overwritten; and the undo's own PUT
carries that `changeSequence`, so a change that lands after the preview ends as a conflict, not an overwrite.

Reads only: `jobs.request_undo` makes the undo job, whose items `undo_items` makes (again when it is released).
"""

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from slices_admin.audit.models import slice_url
from slices_admin.slices.models import OrchestratorSlice

from .models import BulkEditItem, BulkEditJob

SAMPLE_SIZE = 10
CHUNK = 2000


@dataclass
class UndoPreview:
    """What undoing `original` would do now."""

    original: BulkEditJob
    to_change: int = 0
    left_alone: int = 0  # changed since the edit wrote them (or not knowable): never overwritten
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (status now, status put back) → slices
    left_alone_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.to_change + self.left_alone

    @property
    def change_rows(self) -> list[tuple[str, str, int]]:
        return [(now, back, count) for (now, back), count in self.changes.most_common()]


@dataclass(frozen=True)
class Verdict:
    """One slice the edit changed: put back (with what), or left alone (and why)."""

    slice_id: str
    now_status: str
    now_sequence: int | None
    put_back: bool
    why_not: str = ""


def undo_preview(original: BulkEditJob) -> UndoPreview:
    seen = UndoPreview(original)
    for item, verdict in _verdicts(original):
        if verdict.put_back:
            seen.to_change += 1
            seen.changes[(verdict.now_status, item["before_status"])] += 1
            continue
        seen.left_alone += 1
        if len(seen.left_alone_sample) < SAMPLE_SIZE:
            seen.left_alone_sample.append(
                {
                    "id": verdict.slice_id,
                    "url": slice_url("orchestrator", verdict.slice_id),
                    "status": verdict.now_status,
                    "why": verdict.why_not,
                }
            )
    return seen


def undo_items(original: BulkEditJob, job: BulkEditJob) -> list[BulkEditItem]:
    """The undo job's items: one per slice the edit changed; those left alone are final (skipped) at once."""
    now = timezone.now()
    items = []
    for item, verdict in _verdicts(original):
        made = BulkEditItem(
            job=job,
            slice_id=verdict.slice_id,
            before_status=verdict.now_status,
            current_status=verdict.now_status,
            current_change_sequence=verdict.now_sequence,
        )
        if verdict.put_back:
            made.expected_change_sequence = item["result_change_sequence"]
            made.target_status = item["before_status"]
            made.target_error_message = item["before_error_message"]
        else:
            made.state, made.finished_at, made.message = BulkEditItem.State.SKIPPED, now, verdict.why_not
        items.append(made)
    return items


def _verdicts(original: BulkEditJob) -> Iterator[tuple[dict[str, Any], Verdict]]:
    """Each slice the edit changed, beside the cached record now, a chunk at a time (flat memory at any size)."""
    fields = ("slice_id", "before_status", "before_error_message", "result_change_sequence")
    succeeded = original.items.filter(state=BulkEditItem.State.SUCCEEDED).order_by("id").values(*fields)
    for chunk in itertools.batched(succeeded.iterator(CHUNK), CHUNK):
        ids = [item["slice_id"] for item in chunk]
        cached = {
            row[0]: row
            for row in OrchestratorSlice.objects.filter(id__in=ids).values_list("id", "status", "change_sequence")
        }
        for item in chunk:
            row = cached.get(item["slice_id"])
            yield item, _verdict(original, item, row)


def _verdict(original: BulkEditJob, item: dict[str, Any], row: tuple[str, str | None, int | None] | None) -> Verdict:
    slice_id = item["slice_id"]
    if row is None:
        return Verdict(slice_id, "", None, False, "Not in the cache any more (gone from Kodexa?): left alone.")
    _id, status, sequence = row
    status = status or ""
    wrote = item["result_change_sequence"]
    if wrote is None or sequence != wrote:
        return Verdict(
            slice_id,
            status,
            sequence,
            False,
            f"Changed since bulk edit {original.pk} — left alone (Kodexa's changeSequence is now {sequence}; the edit "
            f"wrote {wrote}). See its history.",
        )
    if not item["before_status"]:
        return Verdict(slice_id, status, sequence, False, "Its status before the edit is not known: left alone.")
    return Verdict(slice_id, status, sequence, True)
