"""API views: translate HTTP to a service call and back. Validation errors are 400s with field errors."""

from typing import cast

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from slices_admin.accounts.roles import VIEW_AUDIT
from slices_admin.audit.documents import AuditEntrySerializer
from slices_admin.audit.filters import AuditFilter, visible_entries
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.kodexa.schemas import validate_input
from slices_admin.slices import services
from slices_admin.slices.listing import SliceList
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice

from .pagination import AuditKeysetPagination, SliceListPagination
from .queries import AuditPageQuery, checked_slice_query, refuse_nul, slice_list_parameters
from .schema import KODEXA_CHANGE_ERRORS, READ_ERRORS, error_responses, ref
from .serializers import CachedRecordSerializer

SLICES, AUDIT = "slices", "audit"
ANY_ID = OpenApiParameter(
    "slice_id",
    {"type": "string", "pattern": r"^[^\u0000-\u001f\u007f]+$"},
    OpenApiParameter.PATH,
    description="Kodexa's id of the slice (opaque; percent-encode a `/` or `?` in it).",
)
UUID_ID = OpenApiParameter(
    "slice_id", {"type": "string", "format": "uuid"}, OpenApiParameter.PATH, description="The slice's UUID."
)


class CachedSliceList(generics.ListAPIView):
    """The cache, as the list pages list it (`SliceList`): the same filters and sorts, page plans and counts."""

    model: type
    serializer_class = CachedRecordSerializer
    pagination_class = SliceListPagination
    filter_backends = []  # filtering and ordering come from the list

    def list(self, request, *args, **kwargs):
        params = checked_slice_query(self.model, request.query_params)
        paginator = cast(SliceListPagination, self.paginator)  # pagination_class, above
        number, size = paginator.page_asked(params)
        listing = SliceList(self.model, params, number=number, size=size)
        if not listing.filterset.is_valid():
            raise ValidationError(listing.filterset.errors)
        rows = paginator.paginate_list(listing, request)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


def _list_schema(model, label: str):
    return extend_schema(
        operation_id=f"list_{label}",
        summary=f"List cached {label.replace('_', ' ')}",
        description="The console's cache of Kodexa's slices (as the last sync or change left them; `sync` on the "
        "pages refreshes it), filtered and sorted as the list pages do, in pages of `pageSize`; follow `next` and "
        "`previous`. As on the pages, `count` is exact only while counting is cheap: `countIsExact` says whether "
        "it is, and when not, `count` is a lower bound or (with no filter) an estimate. A parameter value the "
        "filters cannot use is a 400, never ignored.",
        tags=[SLICES],
        parameters=slice_list_parameters(model),
        responses={200: CachedRecordSerializer(many=True), **error_responses(400, *READ_ERRORS, 503)},
    )


@extend_schema_view(
    get=_list_schema(ExecutionSlice, "execution_slices"),
    post=extend_schema(
        operation_id="create_execution_slice",
        summary="Create an ExecutionSlice on Kodexa",
        description="Validated first (nothing is sent when a field is wrong), then sent to Kodexa; Kodexa's answer "
        "is cached and returned. Every attempt is in the audit log, whatever its outcome.",
        tags=[SLICES],
        request={"application/json": ref("ExecutionSliceCreateRequest")},
        responses={
            201: OpenApiResponse(CachedRecordSerializer, description="Created on Kodexa; its answer."),
            **error_responses(*KODEXA_CHANGE_ERRORS, 503, kodexa=True),
        },
    ),
)
class ExecutionSliceListCreate(CachedSliceList):
    model = ExecutionSlice

    def post(self, request):
        values = validate_input(EXECUTION_SLICE, request.data, partial=True)
        row = services.create_execution_slice(values, context=AuditContext.from_request(request))
        return Response(row.raw, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        operation_id="get_execution_slice",
        summary="One cached ExecutionSlice",
        tags=[SLICES],
        parameters=[ANY_ID],
        responses={200: CachedRecordSerializer, **error_responses(*READ_ERRORS, 503)},
    )
)
class ExecutionSliceDetail(generics.RetrieveAPIView):
    queryset = ExecutionSlice.objects.all()
    serializer_class = CachedRecordSerializer
    lookup_url_kwarg = "slice_id"


@extend_schema_view(get=_list_schema(OrchestratorSlice, "orchestrator_execution_slices"))
class OrchestratorSliceList(CachedSliceList):
    model = OrchestratorSlice


_CHANGE_ANSWERS = {
    200: OpenApiResponse(CachedRecordSerializer, description="Applied on Kodexa; its answer (now cached)."),
    **error_responses(*KODEXA_CHANGE_ERRORS, 503, kodexa=True),
}


@extend_schema_view(
    get=extend_schema(
        operation_id="get_orchestrator_execution_slice",
        summary="One cached OrchestratorExecutionSlice",
        tags=[SLICES],
        parameters=[UUID_ID],
        responses={200: CachedRecordSerializer, **error_responses(*READ_ERRORS, 503)},
    ),
    put=extend_schema(
        operation_id="replace_orchestrator_execution_slice",
        summary="Replace an OrchestratorExecutionSlice on Kodexa",
        description="Every field is required (a PUT replaces the whole record). Validated first, sent to Kodexa "
        "with the `changeSequence` given: a stale one is a 409 with Kodexa's current version, never an overwrite. "
        "Audited whatever the outcome.",
        tags=[SLICES],
        parameters=[UUID_ID],
        request={"application/json": ref("OrchestratorExecutionSliceReplaceRequest")},
        responses=_CHANGE_ANSWERS,
    ),
    patch=extend_schema(
        operation_id="patch_orchestrator_execution_slice",
        summary="Change some fields of an OrchestratorExecutionSlice on Kodexa",
        description="The fields given are merged onto Kodexa's current copy (read first) and sent as a whole "
        "record. Give the `changeSequence` you saw to have a change made since refused (409). Audited.",
        tags=[SLICES],
        parameters=[UUID_ID],
        request={"application/json": ref("OrchestratorExecutionSlicePatchRequest")},
        responses=_CHANGE_ANSWERS,
    ),
)
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


@extend_schema_view(
    get=extend_schema(
        operation_id="list_audit_entries",
        summary="The audit log",
        description="Every attempted change (and, for administrators, every security event), newest first, with "
        "the audit page's filters. Keyset pages: follow `next` (older) and `previous` (newer); no total count. "
        "Needs a role that may read the audit log.",
        tags=[AUDIT],
        parameters=[AuditPageQuery],
        responses={200: AuditEntrySerializer(many=True), **error_responses(400, 401, 403, 503)},
    )
)
class AuditList(generics.ListAPIView):
    """The audit log with the audit page's filters, newest first, in keyset pages (`next`/`previous` links)."""

    read_permission = VIEW_AUDIT
    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilter
    pagination_class = AuditKeysetPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is being made: no user
            return AuditEntry.objects.none()
        refuse_nul(self.request.query_params)
        return visible_entries(self.request.user)


@csrf_exempt  # it changes nothing: a POST to no route is a 404 too, not the CSRF failure page
def not_found(request, *args, **kwargs):
    """Anything under /api/v1/ that is no route (a malformed id included) is a JSON 404, never an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)
