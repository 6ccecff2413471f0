"""CSV export of exactly a filtered list, streamed row by row so memory stays flat at any size."""

import csv
import json
import re

from django.http import StreamingHttpResponse
from django.utils import timezone

from slices_admin.kodexa.contract import WireType
from slices_admin.kodexa.schemas import format_datetime

# What a spreadsheet may read as the start of a formula: = + - @, their full-width and small forms, the minus sign,
# and the tab, carriage return and line feed some of them skip before looking.
_FORMULA_STARTS = tuple("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class _Echo:
    def write(self, value):
        return value


def _cell(value, wire_type: WireType) -> str:
    if value is None:
        return ""
    if wire_type is WireType.DATETIME:
        return format_datetime(value)
    if wire_type is WireType.OBJECT:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return spreadsheet_safe(str(value))


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet shows as text: a cell that could start a formula gets a leading apostrophe, unless it is
    wholly a number (`-1.5` stays a number; `-1+WEBSERVICE(…)` does not)."""
    if text.lstrip(" ").startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_response(queryset, resource, filename_stem: str) -> StreamingHttpResponse:
    fields = resource.fields
    columns = [f.python_name for f in fields]
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow([f.wire_name for f in fields] + ["lastSeenAt"])
        for values in queryset.values_list(*columns, "last_seen_at").iterator(chunk_size=2000):
            *record, seen = values
            yield writer.writerow(
                [_cell(v, f.type) for v, f in zip(record, fields, strict=True)] + [format_datetime(seen)]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename_stem}-{stamp}.csv"'
    return response
