"""Audit pages: the trail (newest first, keyset pages, filters in the URL), one entry in full, and exports."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from slices_admin.accounts.roles import VIEW_AUDIT
from slices_admin.core.rendering import render_page_or_partial

from . import selectors
from .export import FORMATS, export_response
from .filters import filtered_entries, visible_entries
from .models import AuditEntry
from .selectors import PAGE_SIZES, Cursor, keyset_page, page_size_from

_CURSOR_PARAMS = ("before", "after", "last")


@require_GET
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_list(request):
    filterset, queryset = filtered_entries(request.GET, request.user)
    size = page_size_from(request.GET)
    page = keyset_page(selectors.for_the_trail(queryset), Cursor.from_params(request.GET), size)
    query = request.GET.copy()
    for name in _CURSOR_PARAMS:
        query.pop(name, None)
    context = {
        "filterset": filterset,
        "page": page,
        "query": query.urlencode(),
        "page_size": size,
        "page_sizes": PAGE_SIZES,
        "actors": _known_actors(),
        "filtered": any(v for k, v in query.items() if k != "pageSize"),
    }
    return render_page_or_partial(request, "audit/list.html", "entries", context)


def _known_actors() -> list[str]:
    """Suggestions for the actor filter, from the user table (a DISTINCT over a million entries would not be)."""
    return ["system", "anonymous", *get_user_model().objects.order_by("username").values_list("username", flat=True)]


@require_GET
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_detail(request, pk):
    entry = get_object_or_404(visible_entries(request.user), pk=pk)
    context = {
        "entry": entry,
        **_changes(entry),
        "record_fields": selectors.record_fields(entry),
        "chain_check": selectors.check_entry(entry),
        "newer": AuditEntry.objects.filter(id__gt=pk).order_by("id").values_list("id", flat=True).first(),
        "older": AuditEntry.objects.filter(id__lt=pk).order_by("-id").values_list("id", flat=True).first(),
    }
    return render(request, "audit/detail.html", context)


CHANGES_SHOWN = 500  # key paths listed on the page; a change to a 10,000-key object lists the rest as a count


def _changes(entry: AuditEntry) -> dict:
    """What changed; for an update Kodexa did not apply, what the attempt would have changed."""
    changes, intended = [], False
    if entry.before is not None and entry.after is not None:
        changes = selectors.key_path_diff(entry.before, entry.after)
    elif (
        entry.action in (AuditEntry.Action.UPDATE, AuditEntry.Action.PATCH)
        and isinstance(entry.before, dict)
        and isinstance(entry.request_body, dict)
    ):
        changes = selectors.key_path_diff(entry.before, {**entry.before, **entry.request_body})
        intended = True
    return {
        "changes": changes[:CHANGES_SHOWN],
        "changes_count": len(changes),
        "changes_hidden": max(len(changes) - CHANGES_SHOWN, 0),
        "intended": intended,
    }


@require_GET
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_export(request, export_format):
    if export_format not in FORMATS:
        raise Http404("Export as csv or jsonl.")
    filterset, queryset = filtered_entries(request.GET, request.user)
    if not filterset.is_valid():
        return render(request, "audit/list.html", {"filterset": filterset, "page": None}, status=400)
    return export_response(queryset, export_format)
