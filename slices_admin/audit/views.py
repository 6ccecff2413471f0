"""Audit pages: the trail (newest first, keyset pages, filters in the URL), one entry in full, and exports."""

from html import escape

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from slices_admin.accounts.roles import VIEW_AUDIT
from slices_admin.core.rendering import render_page_or_partial
from slices_admin.slices.formatting import duration_ms, iso, relative_time, short_id

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
        "rows": _rows(page.entries),
        "query": query.urlencode(),
        "page_size": size,
        "page_sizes": PAGE_SIZES,
        "actors": _known_actors(request.user),
        "filtered": any(v for k, v in query.items() if k != "pageSize"),
    }
    return render_page_or_partial(request, "audit/list.html", "entries", context)


def _rows(entries) -> list[SafeString]:
    """Each entry's row of the trail as one string of HTML, built in Python rather than by template logic per cell
    (most of the page's server time). Every value goes through `html.escape`, quotes included."""
    now = timezone.now()
    detail = reverse("audit:detail", args=[0]).removesuffix("0/")
    rows = []
    for entry in entries:
        stamp = escape(iso(entry.occurred_at))
        target = "—"
        if entry.remote_id:
            short = escape(short_id(entry.remote_id))
            url = entry.slice_url
            target = f'<a href="{escape(url)}" dir="auto">{short}</a>' if url else f"<bdi>{short}</bdi>"
        rows.append(
            mark_safe(  # noqa: S308 (every value is escaped)
                f'<td><time datetime="{stamp}" title="{stamp}">{escape(relative_time(entry.occurred_at, now))}</time>'
                f'</td><td dir="auto">{escape(entry.actor_username)}</td><td>{escape(entry.get_action_display())} '
                f'<span class="muted">{escape(entry.resource_label)}</span></td><td><span class="badge outcome-'
                f'{escape(entry.outcome)}">{escape(entry.get_outcome_display())}</span></td><td class="mono" '
                f'title="{escape(entry.resource)} {escape(entry.remote_id or "")}">{target}</td>'
                f"<td>{_kodexa_cell(entry)}</td><td>{_changes_cell(entry)}</td>"
                f'<td><a href="{detail}{entry.pk}/">Details</a></td>'
            )
        )
    return rows


def _kodexa_cell(entry) -> str:
    if entry.action == AuditEntry.Action.SYNC:
        records = entry.synced_records or "0"
        text = f"{escape(str(records))} record{'' if str(records) == '1' else 's'}"
        return text if entry.duration_ms is None else f"{text} · {escape(duration_ms(entry.duration_ms))}"
    if entry.is_slice_event:
        status = "no answer" if entry.response_status is None else str(entry.response_status)
        return status if entry.duration_ms is None else f"{status} · {entry.duration_ms} ms"
    return "—"


def _changes_cell(entry) -> str:
    if entry.action == AuditEntry.Action.ROLE_CHANGE:
        return f"role: {escape(entry.role_before or 'none')} → {escape(entry.role_after or 'none')}"
    diff = entry.diff or []
    if diff:
        names = (change.get("field", "") if isinstance(change, dict) else "" for change in diff[:6])
        fields = ", ".join(f'<code dir="auto">{escape(str(name))}</code>' for name in names)
        return fields + (" …" if len(diff) > 6 else "")
    if entry.error:
        return f'<span class="clip" title="{escape(entry.error)}" dir="auto">{escape(entry.error)}</span>'
    return "—"


ACTORS_CACHE_SECONDS = 60
RECENT_ENTRIES_FOR_ACTORS = 2000


def _known_actors(user) -> list[str]:
    """Suggestions for the actor filter (which takes any text). An administrator sees every entry: every account,
    "system" and "anonymous". Anyone else is offered the names acting in the newest entries they may see, never
    the list of accounts (inactive ones included) nor the names that only appear in administrators' entries. One
    bounded read of the newest entries, kept a minute per process."""
    if user.is_superuser:
        return [
            "system",
            "anonymous",
            *get_user_model().objects.order_by("username").values_list("username", flat=True),
        ]
    actors = cache.get("audit-actors-reader")
    if actors is None:
        newest = visible_entries(user).order_by("-id").values_list("actor_username", flat=True)
        actors = sorted(set(newest[:RECENT_ENTRIES_FOR_ACTORS]))
        cache.set("audit-actors-reader", actors, ACTORS_CACHE_SECONDS)
    return actors


@require_GET
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_detail(request, pk):
    visible = visible_entries(request.user)
    entry = get_object_or_404(visible, pk=pk)
    context = {
        "entry": entry,
        **_changes(entry),
        "record_fields": selectors.record_fields(entry),
        "chain_check": selectors.check_entry(entry),
        # The neighbours this user may see: a reader's links skip the administrators' security events.
        "newer": visible.filter(id__gt=pk).order_by("id").values_list("id", flat=True).first(),
        "older": visible.filter(id__lt=pk).order_by("-id").values_list("id", flat=True).first(),
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
