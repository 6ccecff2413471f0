"""Bulk edit pages: choose and preview, then watch the job and act on its outcomes."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slices_admin.accounts.roles import EDIT_SLICES, VIEW_SLICES
from slices_admin.audit.services import AuditContext
from slices_admin.core.middleware import background_poll
from slices_admin.core.rendering import redirect_after_post, render_page_or_partial

from . import services
from .forms import BulkEditForm, RateForm
from .models import BulkEditItem, BulkEditJob
from .report import JobReport

ITEM_PAGE_SIZE = 50
_ERROR_FIELDS = {
    "targetStatus": "target_status",
    "errorMessage": "error_message",
    "confirmCount": "confirm_count",
    "maxRate": "max_rate",
    "startAt": "start_at",
}


@permission_required(EDIT_SLICES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def new_edit(request: HttpRequest) -> HttpResponse:
    """Step 1 and 2 on one page: the form, then its preview below it; "Start" creates the job. The list sends
    its selection here by POST (a page of ids would make too long a URL); a GET with the same fields works too."""
    if request.method == "GET" or "step" not in request.POST:
        return _first_step(request, request.GET if request.method == "GET" else request.POST)
    form = BulkEditForm(request.POST)
    shown: services.Preview | None = None
    if form.is_valid():
        try:
            if request.POST.get("step") == "run":
                job = services.create_job(
                    form.selection,
                    form.change,
                    context=AuditContext.from_request(request, reason=form.change.reason),
                    confirmed_count=form.cleaned_data.get("confirm_count"),
                    max_rate=form.cleaned_data.get("max_rate"),
                    start_at=form.cleaned_data.get("start_at"),
                )
                messages.success(request, started_message(job, "The edit"))
                return redirect_after_post(request, reverse("bulk:detail", args=[job.pk]))
        except services.BulkEditError as exc:
            _show(form, exc)
        try:  # the preview, again after a refused start: it shows what changed
            shown = services.preview(form.selection, form.change, user=request.user)
        except services.BulkEditError as exc:
            _show(form, exc)
    selected = shown.total if shown is not None else _count(form.selection)  # counted once
    context = {
        "form": form,
        "preview": shown,
        "ids": request.POST.getlist("ids"),
        "selection": form.selection,
        "selected": selected,
        "approval_threshold": settings.BULK_APPROVAL_THRESHOLD,
    }
    return render_page_or_partial(request, "bulk/new.html", "editor", context)


def _show(form: BulkEditForm, refused: services.BulkEditError) -> None:
    for name, message in refused.errors.items():
        form.add_error(_ERROR_FIELDS.get(name, name) if name != "__all__" else None, message)


def _first_step(request: HttpRequest, params: QueryDict) -> HttpResponse:
    scope = params.get("scope") or "filter"
    ids = params.getlist("ids")
    form = BulkEditForm(initial={"scope": scope, "filter": params.get("filter", ""), "ids": ids})
    if scope == "ids":
        selection = services.Selection.from_ids(ids)
    else:
        selection = services.Selection(filter=params.get("filter", ""))
    context = {"form": form, "selection": selection, "ids": ids, "preview": None, "selected": _count(selection)}
    return render(request, "bulk/new.html", context)


def _count(selection: services.Selection) -> int | None:
    try:
        return selection.queryset().count() if selection.filter is not None else len(selection.ids)
    except services.BulkEditError:
        return None


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = BulkEditJob.objects.select_related("created_by")
    awaiting = request.GET.get("state") == BulkEditJob.State.AWAITING_APPROVAL
    if awaiting:
        jobs = jobs.filter(state=BulkEditJob.State.AWAITING_APPROVAL)
    shown = list(jobs[:100])
    progress = services.progress_of(shown)
    context = {
        "rows": [progress[job.pk] for job in shown],
        "can_edit": request.user.has_perm(EDIT_SLICES),
        "awaiting_only": awaiting,
        "awaiting": BulkEditJob.objects.filter(state=BulkEditJob.State.AWAITING_APPROVAL).count(),
    }
    return render(request, "bulk/list.html", context)


@require_GET
@permission_required(VIEW_SLICES, raise_exception=True)
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    related = ("created_by", "cancelled_by", "retry_of", "undo_of", "approved_by", "closed_by", "paused_by")
    job = get_object_or_404(BulkEditJob.objects.select_related(*related), pk=pk)
    state = request.GET.get("state", "")
    items = job.items.all()
    if state in BulkEditItem.State.values:
        items = items.filter(state=state)
    page = Paginator(items.order_by("id"), ITEM_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "job": job,
        "progress": services.progress(job),
        "report": JobReport(job),  # read only by the whole page, not by its items fragment
        "items": page,
        "state_filter": state,
        "item_states": BulkEditItem.State.choices,
        "follow_ups": job.follow_ups.order_by("created_at"),
        "undone_by": services.existing_undo(job),
        "can_edit": request.user.has_perm(EDIT_SLICES),
        "approval": _approval(request, job) if job.state == BulkEditJob.State.AWAITING_APPROVAL else None,
        "rate_form": RateForm(initial={"max_rate": job.max_rate}),
        "notifications": job.notifications.all(),  # webhook deliveries; read only by the whole page
        "webhook_tries": settings.BULK_WEBHOOK_MAX_TRIES,
    }
    return render_page_or_partial(request, "bulk/job.html", "items", context)


def _approval(request: HttpRequest, job: BulkEditJob) -> dict[str, object]:
    """What an approver weighs: the edit's preview recomputed now, beside the count it was asked with."""
    now = services.preview_now(job, details=True)
    drift = now.to_change - (job.requested_count or 0)
    return {"now": now, "drift": drift, "own": job.created_by_id == request.user.pk}


def started_message(job: BulkEditJob, what: str) -> str:
    if job.state == BulkEditJob.State.AWAITING_APPROVAL:
        return (
            f"{what} is bulk edit {job.pk}: it changes more than {settings.BULK_APPROVAL_THRESHOLD:,} slices, so it "
            "waits for another operator's or admin's approval before it sends anything."
        )
    if job.state == BulkEditJob.State.SCHEDULED and job.start_at is not None:
        return f"{what} is bulk edit {job.pk}, scheduled for {job.start_at:%Y-%m-%d %H:%M} UTC."
    return f"{what} started as bulk edit {job.pk}: {job.items.count():,} slices."


@require_GET
@background_poll
@permission_required(VIEW_SLICES, raise_exception=True)
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled fragment. When the job has ended: stop polling (286) and reload the page once for the results; the
    same when it leaves the waiting state the page was shown in (approved, rejected, started), whose page changes."""
    job = get_object_or_404(BulkEditJob, pk=pk)
    context = {"job": job, "progress": services.progress(job), "can_edit": request.user.has_perm(EDIT_SLICES)}
    response = render(request, "bulk/job.html#progress", context)
    if job.finished or (request.GET.get("shown") in BulkEditJob.WAITING and job.state != request.GET["shown"]):
        response.status_code = 286
        response["HX-Refresh"] = "true"
    return response


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(BulkEditJob, pk=pk)
    try:
        job = services.cancel_job(job, context=AuditContext.from_request(request))
    except services.BulkEditError as exc:
        messages.error(request, " ".join(exc.errors.values()))
        return redirect_after_post(request, reverse("bulk:detail", args=[job.pk]))
    if job.state == BulkEditJob.State.CANCELLED:
        messages.success(request, f"Bulk edit {job.pk} cancelled: nothing more will be sent.")
    else:
        messages.success(
            request,
            f"Cancelling bulk edit {job.pk}: requests already sent finish; everything not yet sent is cancelled.",
        )
    return redirect_after_post(request, reverse("bulk:detail", args=[job.pk]))


@require_POST
@permission_required(EDIT_SLICES, raise_exception=True)
def job_follow_up(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    if kind not in ("retry", "reapply"):
        raise Http404("No such follow-up.")
    job = get_object_or_404(BulkEditJob, pk=pk)
    try:
        new = services.follow_up(job, kind, context=AuditContext.from_request(request))
    except services.BulkEditError as exc:
        messages.error(request, " ".join(exc.errors.values()))
        return redirect_after_post(request, reverse("bulk:detail", args=[job.pk]))
    what = "Retrying the failures" if kind == "retry" else "Re-applying on the current versions"
    messages.success(request, f"{what} of job {job.pk} as bulk edit {new.pk}.")
    return redirect_after_post(request, reverse("bulk:detail", args=[new.pk]))
