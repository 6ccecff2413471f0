"""`Authorization: Token <token>` (or `Bearer <token>`) for the JSON API, checked against the stored digests.

A token signs its user in, nothing more: the API's permission classes then check that user's role as they check a
browser session's. DRF's `TokenAuthentication` is the base for its `WWW-Authenticate: Token` answer to a request
without credentials (and for drf-spectacular's description of the scheme); its model lookup is not used."""

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from slices_admin.audit.services import AuditContext

from .models import APIToken
from .selectors import find_token
from .services import note_use, record_refusal, refusal_message

INVALID = "Invalid token: no such API token. Send `Authorization: Token <token>` with a token from the API tokens page."
MALFORMED = "Invalid Authorization header: give `Authorization: Token <token>` (one token, no spaces)."
INACTIVE = "The account this token belongs to is disabled."


class PersonalTokenAuthentication(TokenAuthentication):
    keyword = "Token"
    schemes = (b"token", b"bearer")

    def authenticate(self, request: Request) -> tuple[object, APIToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.schemes:
            return None  # no token offered: the session may still sign the request in
        if len(parts) != 2:
            raise AuthenticationFailed(MALFORMED)
        try:
            presented = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(INVALID) from None
        token = find_token(presented)
        if token is None:
            raise AuthenticationFailed(INVALID)
        now = timezone.now()
        status = token.status_at(now)
        if status != APIToken.Status.ACTIVE:
            # The Django request: DRF's own would start authenticating again when asked for its user.
            record_refusal(token, status, AuditContext.from_request(request._request))
            raise AuthenticationFailed(refusal_message(token, status))
        if not token.user.is_active:
            raise AuthenticationFailed(INACTIVE)
        note_use(token, now)
        request._request.credential = token.credential  # type: ignore[attr-defined]  # read by AuditContext
        return token.user, token
