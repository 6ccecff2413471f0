"""Audit pages: the trail, newest first, and one entry in full."""

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from slices_admin.accounts.roles import VIEW_AUDIT
from slices_admin.core.rendering import render_page_or_partial

from .filters import AuditFilter
from .models import AuditEntry


@require_GET
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_list(request):
    filterset = AuditFilter(request.GET, queryset=AuditEntry.objects.order_by("-occurred_at", "-id"))
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"filterset": filterset, "page": page, "query": query.urlencode()}
    return render_page_or_partial(request, "audit/list.html", "entries", context)


@require_GET
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_detail(request, pk):
    return render(request, "audit/detail.html", {"entry": get_object_or_404(AuditEntry, pk=pk)})
