"""The identity provider's two URLs: `/oidc/authenticate/` sends the browser to the provider, `/oidc/callback/`
takes its answer, checks it (state, nonce, code, ID token) and signs the person in or says why not.

Both are mozilla-django-oidc's views, reading the endpoints through `provider` and answering every failure with a
page that says what happened (and an audit entry) instead of a redirect or an error page. Both are 404 while no
provider is configured."""

import logging

import jwt
import requests
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from . import provider
from .oidc import SESSION_BACKEND, ProviderBackend, SignInRefused
from .sign_in import record_refused

logger = logging.getLogger(__name__)
_DESCRIPTION_SHOWN = 300  # characters of the provider's own error description put on the page


def refusal(request: HttpRequest, reason: str, *, status: int, vouched: bool = False) -> HttpResponse:
    """The page of a sign-in with the provider that did not happen, audited (see `sign_in.record_refused`)."""
    logger.warning("sign-in with the identity provider refused: %s", reason)
    record_refused(request, reason, vouched=vouched)
    if not request.user.is_authenticated:  # the library keeps the ID token before the checks that refused it
        request.session.pop("oidc_id_token", None)
    context = {"reason": reason, "provider_name": provider.name()}
    return render(request, "registration/provider_refused.html", context, status=status)


def _unreachable(request: HttpRequest, problem: str) -> HttpResponse:
    reason = f"{provider.name()} could not be reached: {problem}. Try again soon; if it lasts, tell an administrator."
    return refusal(request, reason, status=502)


@method_decorator(login_not_required, name="dispatch")
class ProviderSignInView(OIDCAuthenticationRequestView):
    """Stores a fresh state, nonce and PKCE verifier in the session and sends the browser to the provider."""

    get_settings = staticmethod(provider.setting)

    def __init__(self, **kwargs) -> None:
        View.__init__(self, **kwargs)  # the library reads the endpoints here; `get` does, where it can say a failure

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.enabled():
            raise Http404("No identity provider is configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except provider.ProviderUnavailable as error:
            return _unreachable(request, str(error))
        self.OIDC_RP_CLIENT_ID = provider.setting("OIDC_RP_CLIENT_ID")
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class ProviderCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer. Its state must be one this browser's session started and has not used (it is used up
    here, answered or not); the code is exchanged for tokens and the ID token checked by `ProviderBackend`."""

    get_settings = staticmethod(provider.setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        request.audited_path = request.path  # type: ignore[attr-defined]  # its query holds the one-time code
        if not provider.enabled():
            raise Http404("No identity provider is configured.")
        flow = self._take_flow(request)
        # The provider's own words only for a sign-in this browser started: anyone can make a link to this page.
        if flow is not None and (error := request.GET.get("error")):
            description = request.GET.get("error_description", "")[:_DESCRIPTION_SHOWN]
            said = f"{error[:_DESCRIPTION_SHOWN]}: {description}" if description else error[:_DESCRIPTION_SHOWN]
            return refusal(request, f"{provider.name()} did not sign you in ({said}).", status=403)
        if flow is None or not request.GET.get("code"):
            reason = (
                f"This answer from {provider.name()} does not belong to a sign-in started in this browser, or it was "
                "already used. Nobody was signed in: start again from the sign-in page."
            )
            return refusal(request, reason, status=400)
        try:
            user = ProviderBackend().authenticate(
                request, nonce=flow.get("nonce"), code_verifier=flow.get("code_verifier")
            )
        except SignInRefused as refused:
            return refusal(request, refused.reason, status=403, vouched=True)
        except provider.ProviderUnavailable as error:
            return _unreachable(request, str(error))
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else "no status"
            return _unreachable(request, f"it answered HTTP {status} to the console's request (its client id and "
                                         "secret, or its redirect URI, may be wrong)")  # fmt: skip
        except requests.RequestException as error:
            return _unreachable(request, f"{type(error).__name__} while calling it")
        except (SuspiciousOperation, jwt.PyJWTError) as error:
            logger.warning("an answer of the identity provider failed its checks: %s", error)
            user = None
        if user is None:
            reason = (
                f"The answer from {provider.name()} could not be verified (its token's signature, issuer, audience, "
                "expiry or nonce). Nobody was signed in: start again from the sign-in page."
            )
            return refusal(request, reason, status=400)
        user.backend = SESSION_BACKEND
        self.user = user
        return self.login_success()

    @staticmethod
    def _take_flow(request: HttpRequest) -> dict | None:
        """The sign-in this answer's state names, removed from the session (None: no such state), so that no
        answer is taken twice."""
        state = request.GET.get("state")
        flows = request.session.get("oidc_states")
        if not state or not isinstance(flows, dict) or state not in flows:
            return None
        flow = flows.pop(state)
        request.session.modified = True
        request.session.save()
        return flow if isinstance(flow, dict) else None
