"""Slice pages. Each view answers a full page, or the named fragment of it when htmx asks."""

import json
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from slices_admin.accounts.roles import EDIT_SLICES
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.core.rendering import render_page_or_partial
from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource, WireType

from . import services
from .filters import ExecutionSliceFilter, OrchestratorSliceFilter
from .forms import SliceRecordForm, grouped, label_for
from .models import ExecutionSlice, OrchestratorSlice


@dataclass(frozen=True)
class Column:
    label: str
    attr: str
    kind: str = "text"  # text | id | status | time | number


@dataclass(frozen=True)
class SlicePages:
    """What differs between the two resources' pages."""

    resource: Resource
    model: type
    filterset: type
    kind: str  # URL segment and name prefix
    title: str
    group_field: str
    group_param: str
    group_label: str
    columns: tuple[Column, ...]


ORCHESTRATOR_PAGES = SlicePages(
    ORCHESTRATOR_SLICE,
    OrchestratorSlice,
    OrchestratorSliceFilter,
    "orchestrator",
    "Orchestrator execution slices",
    "pipeline_execution_id",
    "pipelineExecutionId",
    "Pipeline execution",
    (
        Column("ID", "id", "id"),
        Column("Status", "status", "status"),
        Column("Pipeline execution", "pipeline_execution_id", "id"),
        Column("Module runtime", "module_runtime_id"),
        Column("Order", "slice_order", "number"),
        Column("Attempt", "attempt_number", "number"),
        Column("Error", "error_message"),
        Column("Updated", "updated_on", "time"),
    ),
)
EXECUTION_PAGES = SlicePages(
    EXECUTION_SLICE,
    ExecutionSlice,
    ExecutionSliceFilter,
    "execution",
    "Execution slices",
    "execution_id",
    "executionId",
    "Execution",
    (
        Column("ID", "id", "id"),
        Column("Status", "status", "status"),
        Column("Execution", "execution_id", "id"),
        Column("Module runtime", "module_runtime_ref"),
        Column("Order", "slice_order", "number"),
        Column("Attempt", "attempt_number", "number"),
        Column("Error", "error_message"),
        Column("Updated", "updated_on", "time"),
    ),
)
PAGES = {p.kind: p for p in (ORCHESTRATOR_PAGES, EXECUTION_PAGES)}


def _pages(kind: str) -> SlicePages:
    try:
        return PAGES[kind]
    except KeyError:
        raise Http404 from None


def _go(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
def slice_list(request, kind):
    pages = _pages(kind)
    filterset = pages.filterset(request.GET, queryset=pages.model.objects.order_by("-updated_on", "id"))
    paginator = Paginator(filterset.qs, 50)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "pages": pages,
        "filterset": filterset,
        "page": page,
        "query": query.urlencode(),
        "statuses": settings.SLICE_STATUSES,
        "selected_statuses": request.GET.getlist("status"),
        "group_value": request.GET.get(pages.group_param, ""),
        "can_edit": request.user.has_perm(EDIT_SLICES),
    }
    return render_page_or_partial(request, "slices/list.html", "table", context)


def _display_value(field, value):
    if field.type is WireType.OBJECT and value is not None:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return value


@require_GET
def slice_detail(request, kind, slice_id):
    pages = _pages(kind)
    row = get_object_or_404(pages.model, id=slice_id)
    groups = [
        (title, [(f, label_for(f.wire_name), _display_value(f, row.raw.get(f.wire_name))) for f in fields])
        for title, fields in grouped(pages.resource)
    ]
    extra = {k: v for k, v in row.raw.items() if k not in pages.resource.wire_names}
    group_value = getattr(row, pages.group_field)
    context = {
        "pages": pages,
        "row": row,
        "groups": groups,
        "extra_json": json.dumps(extra, indent=2, ensure_ascii=False, sort_keys=True) if extra else "",
        "group_value": group_value,
        "audit_entries": AuditEntry.objects.filter(resource=pages.resource.path, remote_id=row.id)[:100],
        "can_edit": request.user.has_perm(EDIT_SLICES),
    }
    return render(request, "slices/detail.html", context)


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
            messages.success(request, f"Kodexa created ExecutionSlice {row.id}.")
            return _go(request, reverse("slices:detail", args=["execution", row.id]))
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
            messages.error(request, f"Could not read the slice: {exc.message} {exc.advice}")
            return redirect("slices:list", "orchestrator")
        context.update(form=_edit_form(initial=SliceRecordForm.initial_from_record(fresh.record)), fresh=fresh)
        return _form_response(request, context)

    form = _edit_form(request.POST)
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
                context["form"] = _edit_form(data)
        except errors.KodexaError as exc:
            form.add_wire_errors(exc.field_errors)
            context["kodexa_error"] = exc
        else:
            messages.success(request, f"Kodexa saved slice {row.id} (changeSequence now {row.change_sequence}).")
            return _go(request, reverse("slices:detail", args=["orchestrator", row.id]))
    return _form_response(request, context)


def _edit_form(data=None, initial=None) -> SliceRecordForm:
    return SliceRecordForm(
        data, initial=initial, resource=ORCHESTRATOR_SLICE, partial=False, readonly=("id", "changeSequence")
    )


def _conflict_context(form: SliceRecordForm, exc: errors.KodexaConflict) -> dict:
    mine, current = form.wire_body(), exc.current or {}
    differences = [
        {"field": name, "mine": _pretty(mine.get(name)), "current": _pretty(current.get(name))}
        for name in ORCHESTRATOR_SLICE.wire_names
        if exc.current is not None and mine.get(name) != current.get(name)
    ]
    return {"kodexa_error": exc, "conflict": {"current": exc.current, "differences": differences}}


def _pretty(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return str(value)


def _form_response(request, context):
    """htmx swaps only 2xx answers, so errors go to htmx as 200; a plain browser gets the honest status."""
    status, form, error = 200, context["form"], context.get("kodexa_error")
    if not request.htmx:
        if isinstance(error, errors.KodexaConflict):
            status = 409
        elif error is not None:
            status = 400 if isinstance(error, errors.KodexaValidationError) else 502
        elif form.is_bound and not form.is_valid():
            status = 400
    context["statuses"] = settings.SLICE_STATUSES
    return render_page_or_partial(request, "slices/form.html", "form", context, status=status)
