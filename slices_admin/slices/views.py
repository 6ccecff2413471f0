"""Slice pages. Each view answers a full page, or the named fragment of it when htmx asks."""

import json
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slices_admin.accounts.roles import EDIT_SLICES, VIEW_SLICES
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.selectors import Cursor, keyset_page
from slices_admin.audit.services import AuditContext
from slices_admin.bulk.services import Selection
from slices_admin.core.middleware import background_poll
from slices_admin.core.rendering import redirect_after_post, render_page_or_partial, wants_fragment
from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource, outside_contract

from . import dashboard as slice_dashboard
from . import selectors, services
from .export import csv_response
from .filters import PAGE_SIZES, filtered_slices, ordered, slice_filterset
from .formatting import duration_ms, iso, isolate, readable_traceback, relative_time, short_id, status_class, timeline
from .forms import SliceRecordForm, grouped, label_for
from .models import ExecutionSlice, OrchestratorSlice, SavedView, SyncRun


@dataclass(frozen=True)
class Column:
    label: str
    attr: str
    kind: str = "text"  # text | id | status | time | number
    sort: str = ""  # the `sort` parameter value that orders by this column


@dataclass(frozen=True)
class SlicePages:
    """What differs between the two resources' pages."""

    resource: Resource
    model: type
    kind: str  # URL segment
    title: str
    group_field: str  # the pipeline execution (or execution) a slice belongs to
    group_param: str
    group_label: str
    runtime_param: str
    columns: tuple[Column, ...]


def _columns(group: Column, runtime: Column) -> tuple[Column, ...]:
    return (
        Column("ID", "id", "id", "id"),
        Column("Status", "status", "status", "status"),
        group,
        runtime,
        Column("Order", "slice_order", "number", "sliceOrder"),
        Column("Attempt", "attempt_number", "number", "attemptNumber"),
        Column("Error", "error_message", "text", "errorMessage"),
        Column("Queued", "queued_at", "time", "queuedAt"),
        Column("Duration", "duration_ms", "duration", "durationMs"),
        Column("Updated", "updated_on", "time", "updatedOn"),
    )


ORCHESTRATOR_PAGES = SlicePages(
    resource=ORCHESTRATOR_SLICE,
    model=OrchestratorSlice,
    kind="orchestrator",
    title="Orchestrator execution slices",
    group_field="pipeline_execution_id",
    group_param="pipelineExecutionId",
    group_label="Pipeline execution",
    runtime_param="moduleRuntimeId",
    columns=_columns(
        Column("Pipeline execution", "pipeline_execution_id", "group", "pipelineExecutionId"),
        Column("Module runtime", "module_runtime_id", "text", "moduleRuntimeId"),
    ),
)
EXECUTION_PAGES = SlicePages(
    resource=EXECUTION_SLICE,
    model=ExecutionSlice,
    kind="execution",
    title="Execution slices",
    group_field="execution_id",
    group_param="executionId",
    group_label="Execution",
    runtime_param="moduleRuntimeRef",
    columns=_columns(
        Column("Execution", "execution_id", "group", "executionId"),
        Column("Module runtime", "module_runtime_ref", "text", "moduleRuntimeRef"),
    ),
)
PAGES = {p.kind: p for p in (ORCHESTRATOR_PAGES, EXECUTION_PAGES)}


def _pages(kind: str) -> SlicePages:
    try:
        return PAGES[kind]
    except KeyError:
        raise Http404 from None


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def dashboard(request):
    context = {"dashboard": slice_dashboard.current(), "list_url": reverse("slices:list", args=["orchestrator"])}
    return render(request, "slices/dashboard.html", context)


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_list(request, kind):
    pages = _pages(kind)
    filterset = slice_filterset(pages.model, request.GET)
    filtering = any(v for k, v in request.GET.items() if k not in {"sort", "page", "pageSize"})
    number, size = selectors.page_number_from(request.GET), selectors.page_size_from(request.GET)

    columns = [column.attr for column in pages.columns]  # never the wide JSON columns

    def page_by(**plan) -> selectors.SlicePage:
        return selectors.slice_page(ordered(filterset, **plan).only(*columns), number, size)

    if not filtering:
        count = selectors.estimated_total(pages.model)
        page = page_by()
    else:
        searching = bool(request.GET.get("q"))
        count = selectors.bounded_count(filterset.qs, limit=selectors.count_limit(searching=searching))
        if count.exact:  # few matches: read them and sort them
            page = page_by(sort_matches=True)
        elif searching and selectors.sorts_search_matches():  # many found by text: sorted, and counted meanwhile
            matches = ordered(filterset, sort_matches=True).only(*columns)
            page, count = selectors.counted_page(matches, number, size)
        else:  # many: a page comes fastest from the sort's own index
            page = page_by(walk_sort_index=True)
    current_sort = request.GET.get("sort", "-updatedOn")
    can_edit = request.user.has_perm(EDIT_SLICES)
    selectable = pages.kind == "orchestrator" and can_edit
    context = {
        "pages": pages,
        "filterset": filterset,
        "page": page,
        "rows": _rows(pages, page.rows, selectable=selectable),
        "selectable": selectable,
        "selection_query": Selection.from_filter(request.GET).filter,
        "count": count,
        "filtering": filtering,
        "headers": [_header(column, current_sort) for column in pages.columns],
        "statuses": settings.SLICE_STATUSES,
        "selected_statuses": request.GET.getlist("status"),
        "page_sizes": PAGE_SIZES,
        "time_ranges": _TIME_RANGES,
        "more_filters_open": any(request.GET.get(name) for name in _MORE_FILTERS),
        "can_edit": can_edit,
    }
    if not wants_fragment(request):  # the rest of the page: saved views and the sync panel
        context["saved_views"] = SavedView.objects.filter(kind=kind)
        context["sync_run"] = SyncRun.objects.filter(resource=pages.resource.path).first()
    return render_page_or_partial(request, "slices/list.html", "results", context)


_TIME_RANGES = (
    ("queuedAt", "Queued"),
    ("startedAt", "Started"),
    ("completedAt", "Completed"),
    ("updatedOn", "Updated"),
)
_MORE_FILTERS = (
    "organizationId", "moduleRuntimeId", "moduleRuntimeRef", "attemptAtLeast", "queuedAt_after", "queuedAt_before",
    "startedAt_after", "startedAt_before", "completedAt_after", "completedAt_before", "updatedOn_after",
    "updatedOn_before",
)  # fmt: skip


_PATH_SAFE = "/~:@!$&'()*+,;="  # what Django's reverse() leaves unquoted in a path, so links match it


_COPY_ICON = (
    '<svg aria-hidden="true" viewBox="0 0 16 16" width="12" height="12"><rect x="5" y="5" width="9" height="9" '
    'rx="1" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M3 11V3a1 1 0 0 1 1-1h7" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/></svg>'
)
_EMPTY_CELL = '<td><span class="muted">—</span></td>'


def _rows(pages: SlicePages, rows, *, selectable: bool = False) -> list[SafeString]:
    """Each row's cells as one string of HTML, built in Python: a dense page is 2,000 cells, and template logic or
    `format_html` per cell was most of a list's server time. Every value goes through `html.escape` (quotes
    included), which escapes as Django's `escape` does, without its lazy-string wrapping."""
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


def _header(column: Column, current_sort: str) -> dict:
    """A sortable column header: its state and the sort a click asks for (toggling the direction)."""
    state = "asc" if current_sort == column.sort else "desc" if current_sort == f"-{column.sort}" else ""
    next_sort = f"-{column.sort}" if state == "asc" or (not state and column.kind == "time") else column.sort
    return {"column": column, "state": state, "next_sort": next_sort}


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def sync_start(request, kind):
    pages = _pages(kind)
    run = services.start_sync(pages.resource, full=request.POST.get("mode") == "full", requested_by=request.user)
    if not request.htmx:
        return redirect("slices:list", kind)
    return _sync_panel(request, pages, run)


@require_GET
@background_poll
@permission_required(VIEW_SLICES, raise_exception=True)
def sync_progress(request, pk):
    run = get_object_or_404(SyncRun, pk=pk)
    pages = next((p for p in PAGES.values() if p.resource.path == run.resource), None)
    if pages is None:
        raise Http404
    return _sync_panel(request, pages, run)


def _sync_panel(request, pages: SlicePages, run: SyncRun):
    context = {"pages": pages, "sync_run": run, "can_edit": request.user.has_perm(EDIT_SLICES)}
    response = render(request, "slices/list.html#sync", context)
    if run.finished:
        response.status_code = 286  # htmx stops polling on 286
    return response


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_export(request, kind):
    """Exactly the rows the list shows for these filters; filters it cannot apply refuse the export (400), as the
    list and the API do, rather than export every slice."""
    pages = _pages(kind)
    filterset, queryset = filtered_slices(pages.model, request.GET)
    if not filterset.is_valid():
        context = {
            "title": "Nothing exported: some filters are not valid",
            "message": "Correct these filters on the list, then export again.",
            "field_errors": filterset.errors,
            "back": f"{reverse('slices:list', args=[kind])}?{request.GET.urlencode()}",
            "back_label": "Back to the list with these filters",
        }
        return render(request, "400.html", context, status=400)
    return csv_response(queryset, pages.resource, f"{kind}-slices")


@require_POST
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_refresh(request, kind, slice_id):
    """Read the one record from Kodexa into the cache and say what changed."""
    pages = _pages(kind)
    try:
        _row, changes = services.refresh_slice(pages.resource, slice_id, context=AuditContext.from_request(request))
    except errors.KodexaNotFound:
        messages.warning(request, "Kodexa no longer has this slice; the cached copy is kept and flagged as gone.")
    except errors.KodexaError as exc:
        messages.error(request, f"Could not refresh: {isolate(exc.message)} {exc.advice}")
    else:
        if changes:
            listed = ", ".join(
                f"{isolate(c['field'])}: {isolate(_short(c['before']))} → {isolate(_short(c['after']))}"
                for c in changes[:8]
            )
            more = f" and {len(changes) - 8} more" if len(changes) > 8 else ""
            messages.success(request, f"Refreshed from Kodexa. Changed: {listed}{more}.")
        else:
            messages.success(request, "Refreshed from Kodexa: the cached copy was already current.")
    return redirect_after_post(request, reverse("slices:detail", args=[kind, slice_id]))


def _short(value) -> str:
    text = "null" if value is None else json.dumps(value) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


@require_POST
@permission_required(VIEW_SLICES, raise_exception=True)
def saved_view_create(request, kind):
    pages = _pages(kind)
    name = request.POST.get("name", "").strip()[:80]
    query = QueryDict(request.POST.get("query", ""), mutable=True)
    query.pop("page", None)
    list_url = reverse("slices:list", args=[kind])
    if not name:
        messages.error(request, "Give the view a name to save it.")
        return redirect(f"{list_url}?{query.urlencode()}")
    existing = SavedView.objects.filter(kind=pages.kind, name=name).first()
    if existing and existing.created_by_id != request.user.pk and not request.user.is_superuser:
        messages.error(request, f"“{isolate(name)}” is someone else's saved view; choose another name.")
        return redirect(f"{list_url}?{query.urlencode()}")
    view, created = SavedView.objects.update_or_create(
        kind=pages.kind, name=name, defaults={"query": query.urlencode(), "created_by": request.user}
    )
    verb = "Saved" if created else "Updated"
    messages.success(request, f"{verb} the view “{isolate(view.name)}”: everyone sees it above the filters.")
    return redirect(f"{list_url}?{view.query}")


@require_POST
@permission_required(VIEW_SLICES, raise_exception=True)
def saved_view_delete(request, pk):
    view = get_object_or_404(SavedView, pk=pk)
    if view.created_by_id != request.user.pk and not request.user.is_superuser:
        raise PermissionDenied("Only the person who saved a view, or an admin, may delete it.")
    view.delete()
    messages.success(request, f"Deleted the saved view “{isolate(view.name)}”.")
    return redirect("slices:list", view.kind)


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_detail(request, kind, slice_id):
    pages = _pages(kind)
    row = get_object_or_404(pages.model, id=slice_id)
    groups = [
        (title, [(f, label_for(f.wire_name), row.raw.get(f.wire_name)) for f in fields])
        for title, fields in grouped(pages.resource)
    ]
    extra = outside_contract(pages.resource, row.raw)
    group_value = getattr(row, pages.group_field)
    now = timezone.now()
    siblings = selectors.siblings(row, pages.group_field)
    context = {
        "pages": pages,
        "row": row,
        "groups": groups,
        "extra": extra,
        "keeps_unknown_fields": settings.KODEXA_PUT_UNKNOWN_FIELDS == "keep",
        "group_value": group_value,
        **_history(pages, row.id, Cursor()),
        "timeline": timeline(row, now),
        "traceback": readable_traceback(row.raw.get("errorDetails")),
        "siblings": siblings,
        "sibling_rows": _sibling_rows(pages, siblings, row.id, now),
        "lease_expired": bool(row.lease_expires_at and row.completed_at is None and row.lease_expires_at < now),
        "can_edit": request.user.has_perm(EDIT_SLICES),
    }
    return render(request, "slices/detail.html", context)


def _sibling_rows(pages: SlicePages, siblings: list, current_id: str, now) -> list[SafeString]:
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


HISTORY_CHUNK = 20


def _history(pages: SlicePages, slice_id: str, cursor: Cursor) -> dict:
    """One chunk of a slice's audit history, newest first, with what "Show older" needs."""
    entries = AuditEntry.objects.filter(resource=pages.resource.path, remote_id=slice_id)
    return {
        "history": keyset_page(entries, cursor, HISTORY_CHUNK),
        "history_url": reverse("slices:history", args=[pages.kind, slice_id]),
        "history_resource": pages.resource.path,
        "history_object": slice_id,
    }


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_history(request, kind, slice_id):
    """Older entries of a slice's history, appended in place by "Show older"."""
    context = _history(_pages(kind), slice_id, Cursor.from_params(request.GET))
    return render(request, "audit/list.html#history-items", context)


@permission_required(EDIT_SLICES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def execution_create(request):
    form = SliceRecordForm(request.POST or None, resource=EXECUTION_SLICE, partial=True)
    context = {"form": form, "pages": EXECUTION_PAGES, "mode": "create", "kodexa_error": None}
    if request.method == "POST" and form.is_valid() and "_validate" not in request.POST:
        try:
            row = services.create_execution_slice(form.values, context=AuditContext.from_request(request))
        except errors.KodexaError as exc:
            form.add_wire_errors(exc.field_errors)
            context["kodexa_error"] = exc
        else:
            messages.success(request, f"Kodexa created ExecutionSlice {isolate(row.id)}.")
            return redirect_after_post(request, reverse("slices:detail", args=["execution", row.id]))
    return _form_response(request, context)


@permission_required(EDIT_SLICES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def orchestrator_edit(request, slice_id):
    context = {"pages": ORCHESTRATOR_PAGES, "mode": "edit", "slice_id": slice_id, "kodexa_error": None}
    if request.method == "GET":
        try:
            fresh = services.read_freshest(
                ORCHESTRATOR_SLICE,
                slice_id,
                request_id=request.request_id,
                fall_back_on=(errors.KodexaError,),
            )
        except errors.KodexaNotFound:
            raise Http404("No such orchestrator slice on Kodexa or in the cache.") from None
        except errors.KodexaError as exc:
            messages.error(request, f"Could not read the slice: {isolate(exc.message)} {exc.advice}")
            return redirect("slices:list", "orchestrator")
        initial = SliceRecordForm.initial_from_record(fresh.record)
        context.update(form=_edit_form(slice_id, initial=initial), fresh=fresh)
        return _form_response(request, context)

    form = _edit_form(slice_id, request.POST)
    context["form"] = form
    if form.is_valid() and "_validate" not in request.POST:
        try:
            row = services.update_orchestrator_slice(slice_id, form.values, context=AuditContext.from_request(request))
        except errors.KodexaConflict as exc:
            context.update(_conflict_context(form, exc))
            if exc.current is not None:
                # Saving again is a deliberate choice to put these values on top of the current version.
                data = request.POST.copy()
                data["changeSequence"] = str(exc.current.get("changeSequence", ""))
                context["form"] = _edit_form(slice_id, data)
        except errors.KodexaError as exc:
            form.add_wire_errors(exc.field_errors)
            context["kodexa_error"] = exc
        else:
            messages.success(
                request, f"Kodexa saved slice {isolate(row.id)} (changeSequence now {row.change_sequence})."
            )
            return redirect_after_post(request, reverse("slices:detail", args=["orchestrator", row.id]))
    return _form_response(request, context)


def _edit_form(slice_id: str, data=None, initial=None) -> SliceRecordForm:
    return SliceRecordForm(
        data,
        initial=initial,
        resource=ORCHESTRATOR_SLICE,
        partial=False,
        readonly=("id", "changeSequence"),
        record_id=slice_id,
    )


def _conflict_context(form: SliceRecordForm, exc: errors.KodexaConflict) -> dict:
    mine, current = form.wire_body(), exc.current or {}
    differences = [
        {"field": name, "mine": mine.get(name), "current": current.get(name)}
        for name in ORCHESTRATOR_SLICE.wire_names
        if exc.current is not None and mine.get(name) != current.get(name)
    ]
    return {"kodexa_error": exc, "conflict": {"current": exc.current, "differences": differences}}


def _form_response(request, context):
    """The form again, with the honest status: 400 for invalid values, 409 for a conflict, 502 when Kodexa failed.
    htmx swaps only 2xx answers by default; `X-Console-Swap: form` tells the page's script to swap this one too."""
    status, form, error = 200, context["form"], context.get("kodexa_error")
    if isinstance(error, errors.KodexaConflict):
        status = 409
    elif error is not None:
        status = 400 if isinstance(error, errors.KodexaValidationError) else 502
    elif form.is_bound and not form.is_valid():
        status = 400
    context["statuses"] = settings.SLICE_STATUSES
    context["validate_only"] = "_validate" in request.POST
    response = render_page_or_partial(request, "slices/form.html", "form", context, status=status)
    if request.htmx and status != 200:
        response["X-Console-Swap"] = "form"
    return response
