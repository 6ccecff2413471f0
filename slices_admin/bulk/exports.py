"""A bulk edit's items as downloads, one record a slice: what it was, what it is now, how it ended, how many tries
and the audit entry of the last. CSV for spreadsheets (every cell kept text), JSON Lines for tools; both streamed in
chunks, the audit entries of a chunk read in one query, so memory and queries stay flat at any size."""

import csv
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Max
from django.http import StreamingHttpResponse
from django.utils import timezone

from slices_admin.audit.export import json_line
from slices_admin.audit.models import AuditEntry
from slices_admin.slices.export import spreadsheet_safe

from .models import BulkEditItem, BulkEditJob

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}
CHUNK_SIZE = 2000
COLUMNS = ("sliceId", "statusBefore", "statusAfter", "outcome", "tries", "kodexaStatusCode", "message", "auditEntry")
_FIELDS = (
    "slice_id",
    "state",
    "before_status",
    "target_status",
    "current_status",
    "attempts",
    "status_code",
    "message",
)


def status_after(item: BulkEditItem, job: BulkEditJob) -> str:
    """The slice's status once the edit was done with it: the one set when it succeeded, Kodexa's current one when
    someone else had changed it (a conflict), else the one it had (nothing was changed)."""
    if item.state == BulkEditItem.State.SUCCEEDED:
        return item.after_status(job)
    if item.state == BulkEditItem.State.CONFLICT:
        return item.current_status
    return item.before_status


def latest_entries(job: BulkEditJob, slice_ids: list[str]) -> dict[str, int]:
    """The id of each slice's latest audit entry in this job (by the bulk job index), in one query."""
    rows = (
        AuditEntry.objects.filter(bulk_job_id=job.pk, remote_id__in=slice_ids)
        .order_by()
        .values_list("remote_id")
        .annotate(latest=Max("id"))
        .values_list("remote_id", "latest")
    )
    return dict(rows)


def item_records(job: BulkEditJob, audit_detail_prefix: str) -> Iterator[dict[str, Any]]:
    """Each item as a record, in the ledger's order. `audit_detail_prefix` + an entry's id + "/" is its page."""
    items = job.items.order_by("id").only(*_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for chunk in itertools.batched(items, CHUNK_SIZE):
        entries = latest_entries(job, [item.slice_id for item in chunk])
        for item in chunk:
            entry = entries.get(item.slice_id)
            yield {
                "sliceId": item.slice_id,
                "statusBefore": item.before_status or None,
                "statusAfter": status_after(item, job) or None,
                "outcome": item.state,
                "tries": item.attempts,
                "kodexaStatusCode": item.status_code,
                "message": item.message,
                "auditEntry": f"{audit_detail_prefix}{entry}/" if entry is not None else None,
            }


class _Echo:
    """A file for `csv.writer` that hands each line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for record in records:
        yield writer.writerow([spreadsheet_safe("" if record[c] is None else str(record[c])) for c in COLUMNS])


def items_response(job: BulkEditJob, export_format: str, audit_detail_prefix: str) -> StreamingHttpResponse:
    records = item_records(job, audit_detail_prefix)
    lines = _csv_lines(records) if export_format == "csv" else map(json_line, records)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines, content_type=FORMATS[export_format])
    response["Content-Disposition"] = f'attachment; filename="bulk-edit-{job.pk}-items-{stamp}.{export_format}"'
    return response
