"""The API tokens pages: each person's own (create, see once, list, revoke) and the administrators' (everyone's)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slices_admin.accounts.roles import MANAGE_ALL_TOKENS, VIEW_SLICES
from slices_admin.audit.services import AuditContext
from slices_admin.core.rendering import redirect_after_post, render_page_or_partial, wants_htmx
from slices_admin.slices.formatting import isolate

from .forms import NewTokenForm
from .models import APIToken
from .selectors import every_token, tokens_of
from .services import issue_token, revoke_token

PAGE_SIZE = 100


@permission_required(VIEW_SLICES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The page, or (POST) a new token: the answer that shows its text, the only one that ever does."""
    form, new_token, status = NewTokenForm(), None, 200
    if request.method == "POST":
        form = NewTokenForm(request.POST)
        if form.is_valid():
            token, text = issue_token(
                _signed_in(request),
                name=form.cleaned_data["name"],
                days=form.cleaned_data["expires_in"],
                context=AuditContext.from_request(request),
            )
            form, new_token = NewTokenForm(), {"token": token, "text": text}
        else:
            status = 400
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": tokens_of(_signed_in(request)),
        "can_manage_all": request.user.has_perm(MANAGE_ALL_TOKENS),
    }
    response = render_page_or_partial(request, "tokens/list.html", "panel", context, status=status)
    if status != 200 and wants_htmx(request):
        response["X-Console-Swap"] = "form"  # the form with its errors, swapped in despite the 400
    return response


@require_POST
@permission_required(VIEW_SLICES, raise_exception=True)
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of your own tokens (someone else's is not found here: admins use `admin_revoke`)."""
    token = get_object_or_404(APIToken.objects.select_related("user"), pk=pk, user_id=request.user.pk)
    _revoke(request, token)
    return redirect_after_post(request, reverse("tokens:list"))


@require_GET
@permission_required(MANAGE_ALL_TOKENS, raise_exception=True)
def all_tokens(request: HttpRequest) -> HttpResponse:
    show_all = request.GET.get("show") == "all"
    page = Paginator(every_token(active_only=not show_all), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tokens/all.html", {"page": page, "show_all": show_all})


@require_POST
@permission_required(MANAGE_ALL_TOKENS, raise_exception=True)
def admin_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    _revoke(request, get_object_or_404(APIToken.objects.select_related("user"), pk=pk))
    back = reverse("tokens:all") + ("?show=all" if request.POST.get("show") == "all" else "")
    return redirect_after_post(request, back)


def _revoke(request: HttpRequest, token: APIToken) -> None:
    name = isolate(token.name)
    whose = "" if token.user_id == request.user.pk else f" of {isolate(token.user.get_username())}"
    if revoke_token(token, by=_signed_in(request), context=AuditContext.from_request(request)):
        messages.success(request, f"Revoked the API token “{name}”{whose}: it no longer signs anyone in.")
    else:
        messages.warning(request, f"The API token “{name}”{whose} was already revoked.")


def _signed_in(request: HttpRequest) -> User:
    """The user every view here serves: its permission check let no anonymous visitor through."""
    user = request.user
    assert isinstance(user, User)
    return user
