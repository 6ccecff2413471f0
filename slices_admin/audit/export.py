"""Exports of exactly the filtered entries, newest first, streamed so memory stays flat at any size: CSV for
spreadsheets, JSON Lines (`documents.AuditEntrySerializer`, hashes included) for tools and offline verification."""

import csv
import itertools
import json
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone

from slices_admin.slices.export import spreadsheet_safe

from .documents import as_document
from .models import AuditEntry
from .selectors import NEWEST_FIRST

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


_CSV_COLUMNS = [
    "id",
    "occurredAt",
    "actor",
    "action",
    "outcome",
    "resource",
    "objectId",
    "responseStatus",
    "durationMs",
    "error",
    "reason",
    "bulkJobId",
    "requestId",
    "ipAddress",
    "userAgent",
    "path",
    "credential",
    "changedFields",
    "diff",
    "requestBody",
    "responseBody",
    "entryHash",
]


class _Echo:
    def write(self, value):
        return value


# Characters JSON leaves raw but that many line readers (Python's str.splitlines among them) take for line ends.
_LINE_BREAKING = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(document: Any) -> str:
    """One JSON Lines record: the document on a single line, whichever reader splits it."""
    return json.dumps(document, ensure_ascii=False).translate(_LINE_BREAKING) + "\n"


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _csv_row(entry: AuditEntry) -> list[str]:
    document = as_document(entry)
    document["changedFields"] = " ".join(change["field"] for change in entry.diff or [])
    for name in ("diff", "requestBody", "responseBody"):
        document[name] = _json(document[name])
    return [spreadsheet_safe("" if document[c] is None else str(document[c])) for c in _CSV_COLUMNS]


def export_response(queryset, export_format: str) -> StreamingHttpResponse:
    entries = queryset.order_by(*NEWEST_FIRST).iterator(chunk_size=1000)
    if export_format == "csv":
        writer = csv.writer(_Echo())
        lines = (writer.writerow(row) for row in itertools.chain([_CSV_COLUMNS], map(_csv_row, entries)))
    else:
        lines = (json_line(as_document(entry)) for entry in entries)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines, content_type=FORMATS[export_format])
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{export_format}"'
    return response
