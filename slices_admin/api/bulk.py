"""`/api/v1/bulk-edits`: the bulk-edit engine for scripts (the same services, audit and worker as the pages)."""

from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.changes import Change
from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.slices.models import OrchestratorSlice

from .queries import FILTER_OBJECTS
from .schema import READ_ERRORS, error_responses
from .serializers import ClosedSerializer, StrictBooleanField, StrictCharField, StrictIntegerField

BULK = "bulk edits"


class TargetStatusField(StrictCharField):
    """One of `BULK_TARGET_STATUSES` (read when the schema is made, so it documents this deployment's list)."""


@extend_schema_serializer(component_name="BulkEdit")
class BulkEditRequest(ClosedSerializer):
    """A bulk status edit of the slices `filter` selects (as the orchestrator slice list filters them) or of the
    `ids` given. `dryRun`: only the preview, nothing is queued."""

    filter = FILTER_OBJECTS[OrchestratorSlice](
        required=False, help_text='The list filters, e.g. {"status": ["FAILED"]}. Empty: say `all`.'
    )
    all = StrictBooleanField(required=False, default=False, help_text="Required with an empty filter.")
    ids = serializers.ListField(
        child=StrictCharField(max_length=255, validators=[RegexValidator(r"^[^\x00-\x1f\x7f]+$", "Not a slice id.")]),
        required=False,
        allow_empty=False,
        max_length=50000,
        help_text="The orchestrator slice ids to change (those not cached are read from Kodexa).",
    )
    targetStatus = TargetStatusField(max_length=64)
    errorMessage = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=10000,
        help_text="The error message to set (empty: clear it); absent or null: left as it is.",
    )
    reason = StrictCharField(max_length=2000, help_text="Why: it goes into every audit entry of the job.")
    confirmCount = StrictIntegerField(
        required=False,
        min_value=0,
        help_text="Above the confirmation threshold: the number of slices that will change, from the preview.",
    )
    maxRate = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0.1,
        help_text="Requests a second to Kodexa for the job as a whole (null: none; absent: BULK_DEFAULT_RATE).",
    )
    startAt = serializers.DateTimeField(
        required=False, help_text="Schedule it (with a UTC offset): it counts its selection again then."
    )
    dryRun = StrictBooleanField(required=False, default=False)

    def validate(self, data):
        if ("filter" in data) == ("ids" in data):
            raise ValidationError({"filter": ["Give either filter or ids, not both or neither."]})
        empty = "filter" in data and not any(v not in ("", None, []) for v in data["filter"].values())
        if empty and not data["all"]:
            raise ValidationError({"filter": ['An empty filter selects every cached slice: say "all": true.']})
        return data

    @property
    def selection(self) -> services.Selection:
        data = self.validated_data
        # The filter as sent (its values checked above): the job records the list's query string it stands for.
        return (
            services.Selection.from_filter(self.initial_data["filter"])
            if "filter" in data
            else services.Selection.from_ids(data["ids"])
        )

    @property
    def change(self) -> Change:
        data = self.validated_data
        return Change(data["targetStatus"], data.get("errorMessage"), data["reason"])


def refused(exc: services.BulkEditError) -> ValidationError:
    return ValidationError({("nonFieldErrors" if k == "__all__" else k): [v] for k, v in exc.errors.items()})


# --- the documents: each serializer renders its answer and documents it in the schema --------------------------------
class AbsoluteUrlField(serializers.URLField):
    """The absolute address of a view of the job whose pk the field's `source` gives (the request in the context)."""

    def __init__(self, view_name: str, **kwargs):
        self.view_name = view_name
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return self.context["request"].build_absolute_uri(reverse(self.view_name, args=[value]))


class TwoDecimalsField(serializers.FloatField):
    def to_representation(self, value) -> float:  # type: ignore[override]  # the stubs say str; DRF's gives a float
        return round(value, 2)


class RoundedIntegerField(serializers.IntegerField):
    def to_representation(self, value) -> int:
        return round(value)


class SelectionDocument(serializers.Serializer):
    filter = serializers.CharField(required=False, help_text="The list's query string the filter stands for.")
    ids = serializers.ListField(child=serializers.CharField(), required=False)


class BulkEditJobDocument(serializers.Serializer):  # renders a `services.Progress`: the job, its counts and rate
    """A bulk edit job and its progress."""

    id = serializers.IntegerField(source="job.pk")
    state = serializers.ChoiceField(source="job.state", choices=BulkEditJob.State.choices)
    createdAt = serializers.DateTimeField(source="job.created_at")
    createdBy = serializers.CharField(source="job.created_by.get_username", allow_null=True)
    selection = SelectionDocument(source="job.selection")
    targetStatus = serializers.CharField(source="job.target_status")
    errorMessage = serializers.CharField(
        source="job.error_message", allow_null=True, help_text="null: left as it was on each slice."
    )
    reason = serializers.CharField(source="job.reason")
    retryOf = serializers.IntegerField(
        source="job.retry_of_id", allow_null=True, help_text="The job this one retries, if any."
    )
    startedAt = serializers.DateTimeField(source="job.started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="job.finished_at", allow_null=True)
    cancelRequestedAt = serializers.DateTimeField(source="job.cancel_requested_at", allow_null=True)
    pausedUntil = serializers.DateTimeField(
        source="job.paused_until", allow_null=True, help_text="Kodexa asked the job to wait until then."
    )
    pausedAt = serializers.DateTimeField(source="job.paused_at", allow_null=True, help_text="A person paused it.")
    maxRate = serializers.FloatField(source="job.max_rate", allow_null=True, help_text="Requests a second, or null.")
    startAt = serializers.DateTimeField(source="job.start_at", allow_null=True, help_text="When it is scheduled.")
    undoOf = serializers.IntegerField(source="job.undo_of_id", allow_null=True, help_text="The edit it undoes.")
    requestedCount = serializers.IntegerField(
        source="job.requested_count", allow_null=True, help_text="Slices to change, as confirmed when created."
    )
    approvalExpiresAt = serializers.DateTimeField(source="job.approval_expires_at", allow_null=True)
    approvedBy = serializers.CharField(source="job.approved_by.get_username", allow_null=True, default=None)
    approvedCount = serializers.IntegerField(source="job.approved_count", allow_null=True)
    closedNote = serializers.CharField(
        source="job.closed_note", help_text="Why it ended without running (rejected, withdrawn, expired, drifted)."
    )
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Items by state.")
    ratePerSecond = TwoDecimalsField(source="rate", allow_null=True)
    secondsLeft = RoundedIntegerField(source="seconds_left", allow_null=True)
    items = AbsoluteUrlField("api:bulk-edit-items", source="job.pk", help_text="The job's items with their outcomes.")
    page = AbsoluteUrlField("bulk:detail", source="job.pk", help_text="The job's page in the console.")


class BulkEditJobList(serializers.Serializer):
    results = BulkEditJobDocument(many=True, help_text="The 50 newest jobs, newest first.")


class PreviewSample(serializers.Serializer):
    id = serializers.CharField()
    before = serializers.CharField(source="before_status", allow_null=True, allow_blank=True)
    after = serializers.CharField(source="after_status")


class BulkEditPreview(serializers.Serializer):
    """What the edit would do, from the cache alone (`dryRun`): nothing is sent, nothing is queued."""

    total = serializers.IntegerField()
    toChange = serializers.IntegerField(source="to_change")
    toSkip = serializers.IntegerField(source="to_skip", help_text="Slices that already have the target status.")
    beforeStatuses = serializers.DictField(
        source="before_statuses", child=serializers.IntegerField(), help_text="Slices by current status."
    )
    needsConfirmCount = serializers.BooleanField(
        source="needs_typed_confirmation", help_text="Creating the job needs `confirmCount`."
    )
    needsApproval = serializers.BooleanField(
        source="needs_approval", help_text="The job will wait for another operator's or admin's approval."
    )
    warnings = serializers.ListField(child=serializers.CharField())
    sample = PreviewSample(many=True)


def job_document(request, job: BulkEditJob) -> dict:
    return BulkEditJobDocument(services.progress(job), context={"request": request}).data


JOB_ID = OpenApiParameter("job_id", int, OpenApiParameter.PATH, description="The bulk edit job's id.")


# --- the views ------------------------------------------------------------------------------------------------------
@extend_schema_view(
    get=extend_schema(
        operation_id="list_bulk_edits",
        summary="The newest bulk edit jobs",
        tags=[BULK],
        responses={200: BulkEditJobList, **error_responses(401, 403, 503)},
    ),
    post=extend_schema(
        operation_id="create_bulk_edit",
        summary="Preview or queue a bulk status edit",
        description="Checks the request, then either answers the preview (`dryRun`) or queues the job, which a "
        "background worker sends slice by slice (its progress: `GET /bulk-edits/{job_id}`). Above the "
        "confirmation threshold, `confirmCount` must equal the preview's `toChange`.",
        tags=[BULK],
        request=BulkEditRequest,
        responses={
            200: OpenApiResponse(BulkEditPreview, description="`dryRun`: the preview."),
            201: OpenApiResponse(BulkEditJobDocument, description="The job, queued."),
            **error_responses(400, 401, 403, 413, 415, 503),
        },
    ),
)
class BulkEditListCreate(APIView):
    def get(self, request):
        jobs = list(BulkEditJob.objects.select_related("created_by")[:50])
        progress = services.progress_of(jobs)
        listed = BulkEditJobList({"results": [progress[job.pk] for job in jobs]}, context={"request": request})
        return Response(listed.data)

    def post(self, request):
        asked = BulkEditRequest(data=request.data)
        asked.is_valid(raise_exception=True)
        problems = asked.change.errors()
        if problems:
            raise ValidationError({k: [v] for k, v in problems.items()})
        try:
            if asked.validated_data["dryRun"]:
                seen = services.preview(asked.selection, asked.change, user=request.user)
                return Response(BulkEditPreview(seen).data)
            job = services.create_job(
                asked.selection,
                asked.change,
                context=AuditContext.from_request(request, reason=asked.change.reason),
                confirmed_count=asked.validated_data.get("confirmCount"),
                max_rate=asked.validated_data.get("maxRate", "default"),
                start_at=asked.validated_data.get("startAt"),
            )
        except services.BulkEditError as exc:
            raise refused(exc) from exc
        return Response(job_document(request, job), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        operation_id="get_bulk_edit",
        summary="A bulk edit job and its progress",
        tags=[BULK],
        parameters=[JOB_ID],
        responses={200: BulkEditJobDocument, **error_responses(*READ_ERRORS, 503)},
    )
)
class BulkEditDetail(APIView):
    def get(self, request, job_id):
        return Response(job_document(request, get_object_or_404(BulkEditJob, pk=job_id)))


@extend_schema_view(
    post=extend_schema(
        operation_id="cancel_bulk_edit",
        summary="Cancel a bulk edit job",
        description="Stops sending: requests already out finish, every item not yet sent ends cancelled. A job "
        "that has finished, or was cancelled before, is answered as it is.",
        tags=[BULK],
        parameters=[JOB_ID],
        request=None,
        responses={202: BulkEditJobDocument, **error_responses(400, *READ_ERRORS, 503)},
    )
)
class BulkEditCancel(APIView):
    def post(self, request, job_id):
        job = get_object_or_404(BulkEditJob, pk=job_id)
        try:
            job = services.cancel_job(job, context=AuditContext.from_request(request))
        except services.BulkEditError as exc:  # awaiting approval: withdrawn or rejected instead
            raise refused(exc) from exc
        return Response(job_document(request, job), status=status.HTTP_202_ACCEPTED)


class BulkEditItemSerializer(serializers.ModelSerializer):
    sliceId = serializers.CharField(source="slice_id")
    beforeStatus = serializers.CharField(source="before_status")
    currentStatus = serializers.CharField(source="current_status", help_text="Kodexa's, when it was a conflict.")
    currentChangeSequence = serializers.IntegerField(source="current_change_sequence", allow_null=True)
    resultChangeSequence = serializers.IntegerField(source="result_change_sequence", allow_null=True)
    statusCode = serializers.IntegerField(source="status_code", allow_null=True, help_text="Kodexa's last answer.")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    class Meta:
        model = BulkEditItem
        fields = [
            "sliceId", "state", "beforeStatus", "attempts", "statusCode", "message", "currentStatus",
            "currentChangeSequence", "resultChangeSequence", "finishedAt",
        ]  # fmt: skip


class ItemsQuery(serializers.Serializer):
    state = serializers.MultipleChoiceField(
        choices=BulkEditItem.State.choices, required=False, help_text="Only items in these states (repeatable)."
    )
    page = serializers.IntegerField(required=False, min_value=1, help_text="The page, from 1.")
    pageSize = serializers.IntegerField(
        required=False, min_value=1, help_text="Items a page (default 50; more than 1000 give 1000)."
    )


@extend_schema_view(
    get=extend_schema(
        operation_id="list_bulk_edit_items",
        summary="A bulk edit job's items with their outcomes",
        tags=[BULK],
        parameters=[JOB_ID, ItemsQuery],
        responses={200: BulkEditItemSerializer(many=True), **error_responses(400, *READ_ERRORS, 503)},
    )
)
class BulkEditItems(generics.ListAPIView):
    """A job's items with their outcomes; `?state=failed` (repeatable) narrows them."""

    serializer_class = BulkEditItemSerializer
    filter_backends = []

    def get_queryset(self):
        job = get_object_or_404(BulkEditJob, pk=self.kwargs["job_id"])
        query = ItemsQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data.get("state")
        items = job.items.order_by("id")
        return items.filter(state__in=wanted) if wanted else items
