"""The API's one parser: JSON, within the body size limit, never a server error on hostile input."""

import json
import math

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError


class RequestBodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than the {limit:,} bytes ({_size(limit)}) the API accepts.")


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 2**10:g} KiB"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: valid JSON, but no JSON encoder (nor Kodexa) takes it back
        raise ValueError(f"{text} is out of range for a number")
    return value


class JSONParser(parsers.JSONParser):
    """Strict JSON: malformed text, NaN, infinite numbers and nesting too deep to parse are 400s, never a server
    error. The body is at most `DATA_UPLOAD_MAX_MEMORY_SIZE` bytes: Django refuses a larger one as DRF reads it,
    and `api.exceptions` answers that with `RequestBodyTooLarge`."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestBodyTooLarge(limit)
        try:
            text = raw.decode(parser_context.get("encoding") or settings.DEFAULT_CHARSET)
            return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError as exc:
            raise ParseError("Malformed JSON: nested too deeply.") from exc
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"Malformed JSON: {exc}.") from exc
