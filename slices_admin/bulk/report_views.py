"""What a bulk edit did, as downloads: its items with their outcomes, CSV or JSON Lines (the page's report itself
is read by `report.JobReport` for the job's page)."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET

from slices_admin.accounts.roles import VIEW_SLICES

from . import exports
from .models import BulkEditJob


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def job_items_export(request: HttpRequest, pk: int, export_format: str) -> StreamingHttpResponse:
    if export_format not in exports.FORMATS:
        raise Http404("No such format: items download as .csv or .jsonl.")
    job = get_object_or_404(BulkEditJob, pk=pk)
    # Every entry's page from one reverse (the id is the route's last part), not one reverse per item.
    audit_detail = request.build_absolute_uri(reverse("audit:detail", args=[0])).removesuffix("0/")
    return exports.items_response(job, export_format, audit_detail)
