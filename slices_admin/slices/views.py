"""Slice pages. Each view answers a full page, or the named fragment of it when htmx asks."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slices_admin.accounts.roles import EDIT_SLICES, VIEW_SLICES
from slices_admin.audit import history
from slices_admin.audit.selectors import Cursor
from slices_admin.audit.services import AuditContext
from slices_admin.bulk.services import Selection
from slices_admin.core.middleware import background_poll
from slices_admin.core.rendering import redirect_after_post, render_page_or_partial, wants_fragment
from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, outside_contract

from . import dashboard as slice_dashboard
from . import selectors, services
from .export import csv_response
from .filters import PAGE_SIZES, filtered_slices
from .formatting import isolate, readable_traceback, timeline
from .forms import SliceRecordForm, grouped, label_for
from .listing import SliceList, page_number_from, page_size_from
from .models import SavedView, SyncRun
from .pages import EXECUTION_PAGES, MORE_FILTERS, ORCHESTRATOR_PAGES, PAGES, TIME_RANGES, SlicePages, pages_for
from .rows import list_rows, sibling_rows


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def dashboard(request):
    context = {"dashboard": slice_dashboard.current(), "list_url": reverse("slices:list", args=["orchestrator"])}
    return render(request, "slices/dashboard.html", context)


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_list(request, kind):
    pages = pages_for(kind)
    listing = SliceList(
        pages.model,
        request.GET,
        number=page_number_from(request.GET),
        size=page_size_from(request.GET),
        columns=pages.columns,
    )
    count, page = listing.count, listing.page
    can_edit = request.user.has_perm(EDIT_SLICES)
    selectable = pages.kind == "orchestrator" and can_edit
    context = {
        "pages": pages,
        "filterset": listing.filterset,
        "page": page,
        "rows": list_rows(pages, page.rows, selectable=selectable),
        "selectable": selectable,
        "selection_query": Selection.from_filter(request.GET).filter,
        "count": count,
        "filtering": listing.filtering,
        "headers": listing.headers(),
        "statuses": settings.SLICE_STATUSES,
        "selected_statuses": request.GET.getlist("status"),
        "page_sizes": PAGE_SIZES,
        "time_ranges": TIME_RANGES,
        "more_filters_open": any(request.GET.get(name) for name in MORE_FILTERS),
        "can_edit": can_edit,
    }
    if not wants_fragment(request):  # the rest of the page: saved views and the sync panel
        context["saved_views"] = SavedView.objects.filter(kind=kind)
        context["sync_run"] = SyncRun.objects.filter(resource=pages.resource.path).first()
    return render_page_or_partial(request, "slices/list.html", "results", context)


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def sync_start(request, kind):
    pages = pages_for(kind)
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
    pages = pages_for(kind)
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
    pages = pages_for(kind)
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
    pages = pages_for(kind)
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
    pages = pages_for(kind)
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
        **_history(pages, row.id, history.NEWEST),
        "timeline": timeline(row, now),
        "traceback": readable_traceback(row.raw.get("errorDetails")),
        "siblings": siblings,
        "sibling_rows": sibling_rows(pages, siblings, row.id, now),
        "lease_expired": bool(row.lease_expires_at and row.completed_at is None and row.lease_expires_at < now),
        "can_edit": request.user.has_perm(EDIT_SLICES),
    }
    return render(request, "slices/detail.html", context)


def _history(pages: SlicePages, slice_id: str, cursor: Cursor) -> dict:
    more_url = reverse("slices:history", args=[pages.kind, slice_id])
    return history.object_history(pages.resource.path, slice_id, more_url=more_url, cursor=cursor)


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def slice_history(request, kind, slice_id):
    """Older entries of a slice's history, appended in place by "Show older"."""
    context = _history(pages_for(kind), slice_id, Cursor.from_params(request.GET))
    return render(request, history.OLDER_ENTRIES, context)


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
