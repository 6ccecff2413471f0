"""API views: translate HTTP to a service call and back. Validation errors are 400s with field errors."""

from django.http import JsonResponse
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from slices_admin.accounts.roles import VIEW_AUDIT
from slices_admin.audit.filters import AuditFilter, visible_entries
from slices_admin.audit.services import AuditContext
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.kodexa.schemas import validate_input
from slices_admin.slices import services
from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice

from .pagination import AuditKeysetPagination
from .serializers import AuditEntrySerializer, CachedRecordSerializer


class CachedSliceList(generics.ListAPIView):
    """The cache, with the same filters and sorts as the list pages (`filtered_slices`)."""

    model: type
    serializer_class = CachedRecordSerializer
    filter_backends = []  # filtering and ordering come from filtered_slices

    def get_queryset(self):
        filterset, queryset = filtered_slices(self.model, self.request.query_params)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return queryset


class ExecutionSliceListCreate(CachedSliceList):
    model = ExecutionSlice

    def post(self, request):
        values = validate_input(EXECUTION_SLICE, request.data, partial=True)
        row = services.create_execution_slice(values, context=AuditContext.from_request(request))
        return Response(row.raw, status=status.HTTP_201_CREATED)


class ExecutionSliceDetail(generics.RetrieveAPIView):
    queryset = ExecutionSlice.objects.all()
    serializer_class = CachedRecordSerializer
    lookup_url_kwarg = "slice_id"


class OrchestratorSliceList(CachedSliceList):
    model = OrchestratorSlice


class OrchestratorSliceDetail(generics.RetrieveAPIView):
    queryset = OrchestratorSlice.objects.all()
    serializer_class = CachedRecordSerializer
    lookup_url_kwarg = "slice_id"

    def put(self, request, slice_id):
        values = validate_input(ORCHESTRATOR_SLICE, request.data, partial=False)
        row = services.update_orchestrator_slice(slice_id, values, context=AuditContext.from_request(request))
        return Response(row.raw)

    def patch(self, request, slice_id):
        changes = validate_input(ORCHESTRATOR_SLICE, request.data, partial=True)
        row = services.patch_orchestrator_slice(slice_id, changes, context=AuditContext.from_request(request))
        return Response(row.raw)


class AuditList(generics.ListAPIView):
    """The audit log with the audit page's filters, newest first, in keyset pages (`next`/`previous` links)."""

    read_permission = VIEW_AUDIT
    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilter
    pagination_class = AuditKeysetPagination

    def get_queryset(self):
        return visible_entries(self.request.user)


def not_found(request, *args, **kwargs):
    """Anything under /api/v1/ that is no route (a malformed id included) is a JSON 404, never an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)
