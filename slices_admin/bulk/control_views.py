"""The job page's controls after the preview: undo an edit, approve, reject or withdraw a request, pause, resume,
change the rate, start a scheduled job now. Each is a POST by someone who may edit slices, and says what it did."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from slices_admin.accounts.roles import EDIT_SLICES
from slices_admin.audit.services import AuditContext
from slices_admin.core.rendering import redirect_after_post

from . import services
from .forms import RateForm, RejectForm, UndoForm, typed_count
from .models import BulkEditJob
from .views import started_message


@permission_required(EDIT_SLICES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def undo(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Undo this edit…": the preview of putting back what the job changed, then the undo job."""
    job = get_object_or_404(BulkEditJob, pk=pk)
    if (earlier := services.existing_undo(job)) is not None:
        messages.info(request, f"Bulk edit {job.pk} already has an undo: bulk edit {earlier.pk}.")
        return redirect_after_post(request, reverse("bulk:detail", args=[earlier.pk]))
    form = UndoForm(request.POST or None, initial={"max_rate": settings.BULK_DEFAULT_RATE})
    if request.method == "POST" and form.is_valid():
        try:
            new = services.request_undo(
                job,
                reason=form.cleaned_data["reason"],
                context=AuditContext.from_request(request),
                confirmed_count=typed_count(form.cleaned_data.get("confirm_count")),
                max_rate=form.cleaned_data.get("max_rate"),
            )
        except services.BulkEditError as exc:
            for name, message in exc.errors.items():
                field = {"reason": "reason", "maxRate": "max_rate", "confirmCount": "confirm_count"}.get(name)
                form.add_error(field, message)
        else:
            messages.success(request, started_message(new, f"The undo of bulk edit {job.pk}"))
            return redirect_after_post(request, reverse("bulk:detail", args=[new.pk]))
    context = {
        "job": job,
        "form": form,
        "preview": services.undo_preview(job),
        "confirm_threshold": settings.BULK_CONFIRM_THRESHOLD,
    }
    return render(request, "bulk/undo.html", context)


def _act(
    request: HttpRequest, pk: int, act: Callable[[BulkEditJob, AuditContext], BulkEditJob], done: str
) -> HttpResponse:
    """Run one control on the job and come back to its page with what happened (or why not)."""
    job = get_object_or_404(BulkEditJob, pk=pk)
    try:
        job = act(job, AuditContext.from_request(request))
    except services.BulkEditError as exc:
        messages.error(request, " ".join(exc.errors.values()))
    else:
        messages.success(request, done.format(pk=job.pk, job=job))
    return redirect_after_post(request, reverse("bulk:detail", args=[pk]))


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda job, context: services.pause_job(job, context=context),
        "Bulk edit {pk} paused: requests already sent finish and are recorded; nothing new is sent until resumed.",
    )


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda job, context: services.resume_job(job, context=context), "Bulk edit {pk} resumed.")


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def rate(request: HttpRequest, pk: int) -> HttpResponse:
    form = RateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a rate of at least 0.1 requests a second, or leave it empty for no limit.")
        return redirect_after_post(request, reverse("bulk:detail", args=[pk]))
    wanted = form.cleaned_data.get("max_rate")
    said = f"at most {wanted:g} requests a second" if wanted else "no rate limit"
    return _act(
        request, pk, lambda job, context: services.set_rate(job, wanted, context=context), f"Bulk edit {{pk}}: {said}."
    )


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def start_now(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda job, context: services.start_now(job, context=context), "Bulk edit {pk} started.")


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    typed = typed_count(request.POST.get("confirm_count"))
    return _act(
        request,
        pk,
        lambda job, context: services.approve(job, typed_count=typed, context=context),
        "Bulk edit {pk} approved: {job.approved_count} slices.",
    )


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    form = RejectForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _act(
        request,
        pk,
        lambda job, context: services.reject(job, reason=reason, context=context),
        "Bulk edit {pk} rejected: nothing was sent.",
    )


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda job, context: services.withdraw(job, context=context),
        "Bulk edit {pk} withdrawn: nothing was sent.",
    )
