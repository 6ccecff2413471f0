"""The slice tables' rows as escaped HTML built in Python, as Django admin builds its changelist cells in
`admin_list`: a dense list page is 2,000 cells, and template logic or `format_html` per cell was most of its time."""

from html import escape
from urllib.parse import quote, urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .formatting import duration_ms, iso, relative_time, short_id, status_class
from .pages import SlicePages

_PATH_SAFE = "/~:@!$&'()*+,;="  # what Django's reverse() leaves unquoted in a path, so links match it
_COPY_ICON = (
    '<svg aria-hidden="true" viewBox="0 0 16 16" width="12" height="12"><rect x="5" y="5" width="9" height="9" '
    'rx="1" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M3 11V3a1 1 0 0 1 1-1h7" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/></svg>'
)
_EMPTY_CELL = '<td><span class="muted">—</span></td>'


def list_rows(pages: SlicePages, rows, *, selectable: bool = False) -> list[SafeString]:
    """Each row's cells as one string of HTML. Every value goes through `html.escape` (quotes included), which
    escapes as Django's `escape` does, without its lazy-string wrapping."""
    now = timezone.now()
    detail = reverse("slices:detail", args=[pages.kind, "ID"]).removesuffix("ID/")
    table = []
    for row in rows:
        cells = []
        if selectable:
            value = escape(row.id)
            cells.append(
                f'<td class="col-select"><input type="checkbox" name="ids" value="{value}" form="bulk-form" '
                f'data-row-select aria-label="Select slice {value}"></td>'
            )
        for column in pages.columns:
            raw = getattr(row, column.attr)
            if raw is None or raw == "":
                cells.append(_EMPTY_CELL)
                continue
            value = escape(str(raw))
            if column.attr == "id":
                href = escape(f"{detail}{quote(raw, safe=_PATH_SAFE)}/")
                cells.append(
                    f'<td class="col-id"><a href="{href}" title="{value}" class="mono" dir="auto">'
                    f'{escape(short_id(raw))}</a> <button type="button" class="copy small" data-copy="{value}" '
                    f'aria-label="Copy ID {value}" title="Copy ID">{_COPY_ICON}</button></td>'
                )
            elif column.kind == "status":
                css = escape(status_class(raw))
                cells.append(f'<td><span class="badge {css}" title="{value}" dir="auto">{value}</span></td>')
            elif column.kind == "group":
                href = escape(f"?{urlencode({pages.group_param: raw, 'sort': 'sliceOrder'})}")
                cells.append(
                    f'<td><a class="mono" title="All slices of {value}" href="{href}" dir="auto">'
                    f"{escape(short_id(raw))}</a></td>"
                )
            elif column.kind == "time":
                stamp = escape(iso(raw))
                text = escape(relative_time(raw, now))
                cells.append(f'<td><time datetime="{stamp}" title="{stamp}">{text}</time></td>')
            elif column.kind == "duration":
                cells.append(f'<td class="col-number">{escape(duration_ms(raw))}</td>')
            elif column.kind == "number":
                cells.append(f'<td class="col-number">{value}</td>')
            else:
                cells.append(f'<td><span class="clip" title="{value}" dir="auto">{value}</span></td>')
        table.append(mark_safe("".join(cells)))  # noqa: S308 (every value above is escaped)
    return table


def sibling_rows(pages: SlicePages, siblings: list, current_id: str, now) -> list[SafeString]:
    """The table of a slice's siblings, each row one escaped string (a pipeline execution may have hundreds)."""
    detail = reverse("slices:detail", args=[pages.kind, "ID"]).removesuffix("ID/")
    rows = []
    for sibling in siblings:
        value, current = escape(sibling.id), sibling.id == current_id
        order = "—" if sibling.slice_order is None else str(sibling.slice_order)
        attempt = "—" if sibling.attempt_number is None else str(sibling.attempt_number)
        status, message = escape(sibling.status or ""), escape(sibling.error_message or "")
        updated = ""
        if sibling.updated_on is not None:
            stamp, ago = escape(iso(sibling.updated_on)), escape(relative_time(sibling.updated_on, now))
            updated = f'<time datetime="{stamp}" title="{stamp}">{ago}</time>'
        href = escape(f"{detail}{quote(sibling.id, safe=_PATH_SAFE)}/")
        opening = '<tr class="current" aria-current="true">' if current else "<tr>"
        this_one = ' <span class="muted">(this one)</span>' if current else ""
        rows.append(
            mark_safe(  # noqa: S308 (every value is escaped)
                f'{opening}<td class="col-number">{order}</td>'
                f'<td><a class="mono" href="{href}" title="{value}" dir="auto">{escape(short_id(sibling.id))}</a>'
                f'{this_one}</td><td><span class="badge {escape(status_class(sibling.status))}" title="{status}" '
                f'dir="auto">{status or "—"}</span></td><td class="col-number">{attempt}</td>'
                f'<td><span class="clip" title="{message}" dir="auto">{message}</span></td><td>{updated}</td></tr>'
            )
        )
    return rows
