"""`/api/v1/bulk-edits/{id}/…`: a job's controls after it was created (undo, approve, reject, withdraw, pause,
resume, rate, start now), on the same services, audit and worker as the job page. Each answers the job as it is
then; one that cannot be done now (the job's state, a count that moved, one's own request) is a 400 saying why."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.approval import SELF_APPROVAL
from slices_admin.bulk.models import BulkEditJob

from .bulk import BULK, JOB_ID, BulkEditJobDocument, job_document, refused
from .schema import READ_ERRORS, error_responses
from .serializers import ClosedSerializer, StrictBooleanField, StrictCharField, StrictIntegerField

CONTROL_ERRORS = error_responses(400, *READ_ERRORS, 415, 503)


def rate_field(**kwargs: Any) -> serializers.FloatField:
    return serializers.FloatField(
        allow_null=True,
        min_value=0.1,
        help_text="Requests a second to Kodexa, for the job as a whole; null: none.",
        **kwargs,
    )


@extend_schema_serializer(component_name="BulkEditUndo")
class UndoRequest(ClosedSerializer):
    reason = StrictCharField(max_length=2000, help_text="Why: it goes into every audit entry of the undo.")
    confirmCount = StrictIntegerField(
        required=False, min_value=0, help_text="Above the confirmation threshold: the preview's `toChange`."
    )
    maxRate = rate_field(required=False)
    dryRun = StrictBooleanField(required=False, default=False)


class UndoChange(serializers.Serializer):
    now = serializers.CharField(help_text="The slices' status now (as the edit left them).")
    putBack = serializers.CharField(help_text="The status the undo puts back.")
    slices = serializers.IntegerField()


class LeftAlone(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField(allow_blank=True)
    why = serializers.CharField()


class UndoPreviewDocument(serializers.Serializer):
    """What undoing the edit would do now (`dryRun`): nothing is sent, nothing is queued."""

    toChange = serializers.IntegerField(source="to_change", help_text="Slices still as the edit left them.")
    leftAlone = serializers.IntegerField(source="left_alone", help_text="Changed since the edit: never overwritten.")
    changes = serializers.SerializerMethodField()
    leftAloneSample = LeftAlone(many=True, source="left_alone_sample")

    @extend_schema_field(UndoChange(many=True))
    def get_changes(self, preview: services.UndoPreview) -> list[dict[str, Any]]:
        return [{"now": now, "putBack": back, "slices": count} for now, back, count in preview.change_rows]


class ApproveRequest(ClosedSerializer):
    confirmCount = StrictIntegerField(min_value=0, help_text="The number of slices the edit changes now.")


class RejectRequest(ClosedSerializer):
    reason = StrictCharField(max_length=2000, help_text="Why: the requester sees it, and the audit log keeps it.")


class RateRequest(ClosedSerializer):
    maxRate = rate_field()


def control(operation_id: str, summary: str, description: str, request: type[serializers.Serializer] | None = None):
    """The schema of a control's POST."""
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description,
            tags=[BULK],
            parameters=[JOB_ID],
            request=request,
            responses={200: BulkEditJobDocument, **CONTROL_ERRORS},
        )
    )


class Control(APIView):
    """A POST that runs one service on the job and answers the job as it is then."""

    asks: type[serializers.Serializer] | None = None

    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        raise NotImplementedError

    def post(self, request: Request, job_id: str) -> Response:
        job = get_object_or_404(BulkEditJob, pk=job_id)
        asked: dict[str, Any] = {}
        if self.asks is not None:
            form = self.asks(data=request.data)
            form.is_valid(raise_exception=True)
            asked = form.validated_data
        try:
            job = self.act(job, asked, AuditContext.from_request(request))
        except services.BulkEditError as exc:
            raise refused(exc) from exc
        return Response(job_document(request, job))


@extend_schema_view(
    post=extend_schema(
        operation_id="undo_bulk_edit",
        summary="Preview or queue the undo of a bulk edit",
        description="Puts each slice the edit changed back to the status and error message it had before, where its "
        "record is still the one the edit wrote; slices changed since are left alone. `dryRun`: only the preview. "
        "One undo per edit (asking again is refused, naming the first); an undo can itself be undone.",
        tags=[BULK],
        parameters=[JOB_ID],
        request=UndoRequest,
        responses={
            200: OpenApiResponse(UndoPreviewDocument, description="`dryRun`: the preview."),
            201: OpenApiResponse(BulkEditJobDocument, description="The undo job."),
            **CONTROL_ERRORS,
        },
    )
)
class BulkEditUndo(APIView):
    def post(self, request: Request, job_id: str) -> Response:
        job = get_object_or_404(BulkEditJob, pk=job_id)
        asked = UndoRequest(data=request.data)
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        if data["dryRun"]:
            return Response(UndoPreviewDocument(services.undo_preview(job)).data)
        try:
            undo = services.request_undo(
                job,
                reason=data["reason"],
                context=AuditContext.from_request(request),
                confirmed_count=data.get("confirmCount"),
                max_rate=data.get("maxRate", "default"),
            )
        except services.BulkEditError as exc:
            raise refused(exc) from exc
        return Response(job_document(request, undo), status=status.HTTP_201_CREATED)


@control(
    "approve_bulk_edit",
    "Approve a bulk edit awaiting approval",
    "With the number of slices it changes now (`confirmCount`). Its requester may not approve it (403).",
    ApproveRequest,
)
class BulkEditApprove(Control):
    asks = ApproveRequest

    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        if context.actor is not None and job.created_by_id == context.actor.pk:
            raise PermissionDenied(SELF_APPROVAL)
        return services.approve(job, typed_count=asked["confirmCount"], context=context)


@control(
    "reject_bulk_edit", "Reject a bulk edit awaiting approval", "Nothing is sent; the reason is kept.", RejectRequest
)
class BulkEditReject(Control):
    asks = RejectRequest

    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        return services.reject(job, reason=asked["reason"], context=context)


@control("withdraw_bulk_edit", "Withdraw one's own bulk edit request", "Only its requester may; nothing is sent.")
class BulkEditWithdraw(Control):
    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        return services.withdraw(job, context=context)


@control(
    "pause_bulk_edit",
    "Pause a queued or running bulk edit",
    "Nothing new is sent within a second; requests in flight finish and are recorded. It stays paused (through "
    "worker restarts) until resumed.",
)
class BulkEditPause(Control):
    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        return services.pause_job(job, context=context)


@control("resume_bulk_edit", "Resume a paused bulk edit", "It goes on where it stopped.")
class BulkEditResume(Control):
    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        return services.resume_job(job, context=context)


@control("rate_bulk_edit", "Change a bulk edit's maximum rate", "Its runners take it within a second.", RateRequest)
class BulkEditRate(Control):
    asks = RateRequest

    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        return services.set_rate(job, asked["maxRate"], context=context)


@control(
    "start_bulk_edit",
    "Start a scheduled bulk edit now",
    "Its selection is counted again first, as at its time; too far from the count confirmed, it is refused.",
)
class BulkEditStart(Control):
    def act(self, job: BulkEditJob, asked: dict[str, Any], context: AuditContext) -> BulkEditJob:
        return services.start_now(job, context=context)
