"""Failures as API answers a script can act on, never echoing the console's key: 400s with messages per field (DRF's or
`InvalidRecord`'s, `nonFieldErrors` for the whole body), `{"detail"}` otherwise, plus `kind`/`upstream` from Kodexa."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import ParseError, Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from slices_admin.kodexa import errors
from slices_admin.kodexa.schemas import InvalidRecord

from .parsers import RequestBodyTooLarge

NON_FIELD_ERRORS = "nonFieldErrors"

_PASSED_THROUGH = {
    errors.KodexaValidationError: status.HTTP_400_BAD_REQUEST,
    errors.KodexaNotFound: status.HTTP_404_NOT_FOUND,
    errors.KodexaConflict: status.HTTP_409_CONFLICT,
}


def _status_for(exc: errors.KodexaError) -> int:
    for cls, code in _PASSED_THROUGH.items():
        if isinstance(exc, cls):
            return code
    if isinstance(exc, errors.KodexaRateLimited):
        return status.HTTP_429_TOO_MANY_REQUESTS
    if isinstance(exc, errors.KodexaTimeout):
        return status.HTTP_504_GATEWAY_TIMEOUT
    return status.HTTP_502_BAD_GATEWAY


def _camel(detail):
    if isinstance(detail, dict):
        return {(NON_FIELD_ERRORS if k == "non_field_errors" else k): _camel(v) for k, v in detail.items()}
    return detail


def _field_errors(detail) -> dict:
    """DRF's error detail as field errors (`nonFieldErrors`, at any depth, for DRF's `non_field_errors`): a bare
    list (or message) belongs to the request as a whole."""
    if isinstance(detail, dict):
        return _camel(detail)
    return {NON_FIELD_ERRORS: detail if isinstance(detail, list) else [detail]}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # Django's own check, as DRF reads the body
        exc = RequestBodyTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, InvalidRecord):
        exc = ValidationError(exc.field_errors)
    if isinstance(exc, ParseError):  # malformed JSON: a field-level answer, like any other invalid body
        exc = ValidationError({NON_FIELD_ERRORS: [str(exc.detail)]})
    if isinstance(exc, Throttled):
        seconds: int | None = exc.wait  # type: ignore[attr-defined]  # Throttled.__init__ sets it; the stubs omit it
        wait = f"in {seconds:.0f} s" if seconds is not None else "later"
        limit = settings.API_RATE_LIMIT
        exc = Throttled(seconds, detail=f"Too many requests with these credentials (at most {limit}): retry {wait}.")
    if not isinstance(exc, errors.KodexaError):
        response = drf_exception_handler(exc, context)
        if response is not None and isinstance(exc, ValidationError):
            response.data = _field_errors(response.data)
        return response
    code = _status_for(exc)
    data: dict[str, object] = {"detail": f"{exc.message} {exc.advice}", "kind": exc.kind}
    if code in _PASSED_THROUGH.values():
        data["upstream"] = exc.body
    else:
        data["upstreamStatus"] = exc.status
    if isinstance(exc, errors.KodexaConflict):
        data["current"] = exc.current
    headers = {}
    if isinstance(exc, errors.KodexaRateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = str(int(exc.retry_after + 0.999))
    return Response(data, status=code, headers=headers)
