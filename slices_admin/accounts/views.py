"""Signing in and out: the login page (the identity provider first, when there is one, then local passwords as
`PASSWORD_SIGN_IN` allows), and sign-out, which also ends the provider's session where it has an end-session
endpoint."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.views.decorators.http import require_POST

from . import provider
from .backends import passwords_for_everyone
from .forms import ConsoleAuthenticationForm

logger = logging.getLogger(__name__)


class ConsoleLoginView(LoginView):
    authentication_form = ConsoleAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["provider_name"] = provider.name() if provider.enabled() else ""
        # No password form when no account may use one (the identity provider is then the only way in).
        context["password_form_shown"] = passwords_for_everyone() or bool(settings.PASSWORD_SIGN_IN_USERS)
        return context


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out here; someone who signed in with the provider goes on to its end-session endpoint (RP-initiated
    logout, with the ID token as hint), which sends them back to the login page."""
    destination = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if id_token and provider.enabled():
        destination = _end_session_url(request, id_token) or destination
    auth.logout(request)
    return redirect(destination)


def _end_session_url(request: HttpRequest, id_token: str) -> str | None:
    try:
        end_session = provider.endpoint("OIDC_OP_END_SESSION_ENDPOINT")
    except provider.ProviderUnavailable as error:
        logger.warning("signed out here only: the identity provider's session stays open (%s)", error)
        return None
    if not end_session:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL)),
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{end_session}{'&' if '?' in end_session else '?'}{query}"
