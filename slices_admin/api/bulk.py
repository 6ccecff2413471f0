"""`/api/v1/bulk-edits`: the bulk-edit engine for scripts (the same services, audit and worker as the pages)."""

import django_filters
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.slices.filters import FILTERSETS
from slices_admin.slices.models import OrchestratorSlice


class BulkEditRequest(serializers.Serializer):
    filter = serializers.DictField(required=False, help_text="The list filters, e.g. {'status': ['FAILED']}.")
    all = serializers.BooleanField(required=False, default=False, help_text="Required with an empty filter.")
    ids = serializers.ListField(
        child=serializers.RegexField(
            r"^[^\x00-\x1f\x7f]+$", max_length=255, error_messages={"invalid": "Not a slice id."}
        ),
        required=False,
        allow_empty=False,
        max_length=50000,
    )
    targetStatus = serializers.CharField(max_length=64)
    errorMessage = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=10000)
    reason = serializers.CharField(max_length=2000, trim_whitespace=True)
    confirmCount = serializers.IntegerField(required=False, min_value=0)
    dryRun = serializers.BooleanField(required=False, default=False)

    def validate(self, data):
        if ("filter" in data) == ("ids" in data):
            raise ValidationError({"filter": "Give either filter or ids, not both or neither."})
        if "filter" in data:
            unknown = sorted(set(data["filter"]) - _filter_names())
            if unknown:
                raise ValidationError({"filter": f"Unknown filter(s): {', '.join(unknown)}."})
            if not any(v not in ("", None, []) for v in data["filter"].values()) and not data["all"]:
                raise ValidationError({"filter": 'An empty filter selects every cached slice: say "all": true.'})
        return data

    @property
    def selection(self) -> services.Selection:
        data = self.validated_data
        return (
            services.Selection.from_filter(data["filter"])
            if "filter" in data
            else services.Selection.from_ids(data["ids"])
        )

    @property
    def change(self) -> services.Change:
        data = self.validated_data
        return services.Change(data["targetStatus"], data.get("errorMessage"), data["reason"])


def _filter_names() -> set[str]:
    """The parameters the orchestrator slice list understands (a range filter as `<name>_after`/`_before`)."""
    names = set()
    for name, declared in FILTERSETS[OrchestratorSlice].base_filters.items():
        if isinstance(declared, django_filters.IsoDateTimeFromToRangeFilter):
            names |= {f"{name}_after", f"{name}_before"}
        else:
            names.add(name)
    return names - {"sort"}


def job_document(request, job: BulkEditJob) -> dict:
    progress = services.progress(job)
    return {
        "id": job.pk,
        "state": job.state,
        "createdAt": job.created_at,
        "createdBy": job.created_by.get_username() if job.created_by else None,
        "selection": job.selection,
        "targetStatus": job.target_status,
        "errorMessage": job.error_message,
        "reason": job.reason,
        "retryOf": job.retry_of_id,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
        "cancelRequestedAt": job.cancel_requested_at,
        "pausedUntil": job.paused_until,
        "total": progress.total,
        "done": progress.done,
        "counts": progress.counts,
        "ratePerSecond": round(progress.rate, 2) if progress.rate else None,
        "secondsLeft": round(progress.seconds_left) if progress.seconds_left is not None else None,
        "items": request.build_absolute_uri(reverse("api:bulk-edit-items", args=[job.pk])),
        "page": request.build_absolute_uri(reverse("bulk:detail", args=[job.pk])),
    }


def _preview_document(preview: services.Preview) -> dict:
    return {
        "total": preview.total,
        "toChange": preview.to_change,
        "toSkip": preview.to_skip,
        "beforeStatuses": preview.before_statuses,
        "needsConfirmCount": preview.needs_typed_confirmation,
        "warnings": preview.warnings,
        "sample": [
            {"id": row["id"], "before": row["before_status"], "after": row["after_status"]} for row in preview.sample
        ],
    }


def _refused(exc: services.BulkEditError) -> ValidationError:
    return ValidationError({("nonFieldErrors" if k == "__all__" else k): [v] for k, v in exc.errors.items()})


class BulkEditListCreate(APIView):
    def get(self, request):
        jobs = BulkEditJob.objects.select_related("created_by")[:50]
        return Response({"results": [job_document(request, job) for job in jobs]})

    def post(self, request):
        asked = BulkEditRequest(data=request.data)
        asked.is_valid(raise_exception=True)
        problems = asked.change.errors()
        if problems:
            raise ValidationError({k: [v] for k, v in problems.items()})
        try:
            if asked.validated_data["dryRun"]:
                return Response(_preview_document(services.preview(asked.selection, asked.change, user=request.user)))
            job = services.create_job(
                asked.selection,
                asked.change,
                context=AuditContext.from_request(request, reason=asked.change.reason),
                confirmed_count=asked.validated_data.get("confirmCount"),
            )
        except services.BulkEditError as exc:
            raise _refused(exc) from exc
        return Response(job_document(request, job), status=status.HTTP_201_CREATED)


class BulkEditDetail(APIView):
    def get(self, request, job_id):
        return Response(job_document(request, get_object_or_404(BulkEditJob, pk=job_id)))


class BulkEditCancel(APIView):
    def post(self, request, job_id):
        job = services.cancel_job(get_object_or_404(BulkEditJob, pk=job_id), context=AuditContext.from_request(request))
        return Response(job_document(request, job), status=status.HTTP_202_ACCEPTED)


class BulkEditItemSerializer(serializers.ModelSerializer):
    sliceId = serializers.CharField(source="slice_id")
    beforeStatus = serializers.CharField(source="before_status")
    currentStatus = serializers.CharField(source="current_status")
    currentChangeSequence = serializers.IntegerField(source="current_change_sequence")
    resultChangeSequence = serializers.IntegerField(source="result_change_sequence")
    statusCode = serializers.IntegerField(source="status_code")
    finishedAt = serializers.DateTimeField(source="finished_at")

    class Meta:
        model = BulkEditItem
        fields = [
            "sliceId", "state", "beforeStatus", "attempts", "statusCode", "message", "currentStatus",
            "currentChangeSequence", "resultChangeSequence", "finishedAt",
        ]  # fmt: skip


class BulkEditItems(generics.ListAPIView):
    """A job's items with their outcomes; `?state=failed` (repeatable) narrows them."""

    serializer_class = BulkEditItemSerializer
    filter_backends = []

    def get_queryset(self):
        job = get_object_or_404(BulkEditJob, pk=self.kwargs["job_id"])
        items = job.items.order_by("id")
        wanted = self.request.query_params.getlist("state")
        unknown = set(wanted) - set(BulkEditItem.State.values)
        if unknown:
            raise ValidationError({"state": [f"Unknown state(s): {', '.join(sorted(unknown))}."]})
        return items.filter(state__in=wanted) if wanted else items
