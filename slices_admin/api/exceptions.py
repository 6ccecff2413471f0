"""Turns Kodexa failures into API answers a script can act on, without ever echoing the console's key."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from slices_admin.kodexa import errors

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


def exception_handler(exc, context):
    if not isinstance(exc, errors.KodexaError):
        return drf_exception_handler(exc, context)
    code = _status_for(exc)
    data = {"detail": f"{exc.message} {exc.advice}", "kind": exc.kind}
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
