"""The OpenAPI schema of the JSON API (drf-spectacular), served at `/api/v1/schema`.

The slice records are described from the contract table (`kodexa.contract`), the single source of their fields;
the error answers as `api.exceptions` makes them. The schema needs a signed-in user with a console role, like the
rest of the API: it holds no secret, but it is of use only to those who may call the API.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView

from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import (
    EXECUTION_SLICE,
    INT32_MAX,
    INT32_MIN,
    ORCHESTRATOR_SLICE,
    Resource,
    WireType,
)
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice

from .permissions import RolePermission

# --- the slice records, from the contract ---------------------------------------------------------------------------
_NO_NUL = r"^[^\u0000]*$"
_NO_NUL_NOT_EMPTY = r"^[^\u0000]+$"
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
_WIRE_TYPES: dict[WireType, dict[str, object]] = {
    WireType.INT32: {"type": "integer", "format": "int32", "minimum": INT32_MIN, "maximum": INT32_MAX},
    WireType.STRING: {"type": "string"},
    WireType.DATETIME: {"type": "string", "format": "date-time"},
    WireType.OBJECT: {"type": "object", "additionalProperties": {}},
}
# What the console accepts beyond the type (`kodexa.schemas`): no NUL in strings, RFC 3339 with an offset.
_INPUT_RULES = {
    WireType.STRING: {"pattern": _NO_NUL},
    WireType.DATETIME: {"pattern": _RFC3339},
}
_ID_INPUT = {"minLength": 1, "maxLength": 255, "pattern": r"^[^\u0000-\u001f\u007f]*$"}


def _record_schema(resource: Resource, *, request: bool, required: bool) -> dict:
    properties = {}
    for field in resource.fields:
        schema = dict(_WIRE_TYPES[field.type])
        if request:
            schema.update(_ID_INPUT if field.wire_name == "id" else _INPUT_RULES.get(field.type, {}))
        if field.nullable:
            schema["nullable"] = True
        properties[field.wire_name] = schema
    schema = {"type": "object", "properties": properties}
    if request:
        schema["additionalProperties"] = False  # an unknown key is a field error, so a typo is never dropped
        if required:
            schema["required"] = list(resource.wire_names)
    else:
        schema["additionalProperties"] = True  # Kodexa's answer as it came, fields outside the contract included
        schema["required"] = ["id"]
    return schema


RECORD_COMPONENTS = {
    "ExecutionSliceCreateRequest": {
        **_record_schema(EXECUTION_SLICE, request=True, required=False),
        "description": "Any subset of the fields (none is required); Kodexa fills in the rest.",
    },
    "OrchestratorExecutionSliceReplaceRequest": {
        **_record_schema(ORCHESTRATOR_SLICE, request=True, required=True),
        "description": "Every field (a PUT replaces the whole record), with the `changeSequence` last read and the "
        "`id` of the path. A stale `changeSequence` is a 409.",
    },
    "OrchestratorExecutionSlicePatchRequest": {
        **_record_schema(ORCHESTRATOR_SLICE, request=True, required=False),
        "description": "The fields to change. They are merged onto Kodexa's current copy and sent as a whole "
        "record, with the `changeSequence` given here or else the current one.",
    },
}
_RESPONSE_RECORDS = {
    ExecutionSlice: (EXECUTION_SLICE.label, _record_schema(EXECUTION_SLICE, request=False, required=False)),
    OrchestratorSlice: (ORCHESTRATOR_SLICE.label, _record_schema(ORCHESTRATOR_SLICE, request=False, required=False)),
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


class CachedRecordExtension(OpenApiSerializerExtension):
    """A cached record is Kodexa's JSON as it came: its schema is the resource's contract, named after it."""

    target_class = "slices_admin.api.serializers.CachedRecordSerializer"

    def _record(self, auto_schema):
        view = auto_schema.view
        model = getattr(view, "model", None) or view.queryset.model
        return _RESPONSE_RECORDS[model]

    def get_name(self, auto_schema, direction):
        return self._record(auto_schema)[0]

    def map_serializer(self, auto_schema, direction):
        name, schema = self._record(auto_schema)
        return {**schema, "description": f"The {name} as Kodexa last answered it (the console's cached copy)."}


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    """Strings that may not hold NUL characters say so."""

    target_class = "slices_admin.api.serializers.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if any(isinstance(validator, RegexValidator) for validator in self.target.validators):
            return schema  # its own pattern says more
        # With `allow_blank`, drf-spectacular adds the empty string as a `oneOf` branch of its own: this one must
        # then not match it too.
        return {**schema, "pattern": _NO_NUL_NOT_EMPTY if self.target.allow_blank else _NO_NUL}


class QueryTextFieldExtension(StrictCharFieldExtension):
    target_class = "slices_admin.api.queries.QueryTextField"


class TargetStatusFieldExtension(OpenApiSerializerFieldExtension):
    """The statuses this deployment lets a bulk edit set (`BULK_TARGET_STATUSES`)."""

    target_class = "slices_admin.api.bulk.TargetStatusField"
    priority = 1

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": list(settings.BULK_TARGET_STATUSES)}


class StatusesFieldExtension(OpenApiSerializerFieldExtension):
    """Several statuses: a repeated query parameter, or in a JSON filter a string or a list of strings."""

    target_class = "slices_admin.api.queries.StatusesField"

    def map_serializer_field(self, auto_schema, direction):
        texts = {"type": "array", "items": {"type": "string", "pattern": _NO_NUL}}
        return {"oneOf": [{"type": "string", "pattern": _NO_NUL}, texts]} if self.target.json else texts


class ClosedSerializerExtension(OpenApiSerializerExtension):
    target_class = "slices_admin.api.serializers.ClosedSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False}


# --- the error answers (`api.exceptions`) ---------------------------------------------------------------------------
def _kodexa_kinds() -> list[str]:
    found, todo = set(), [errors.KodexaError]
    while todo:
        cls = todo.pop()
        found.add(cls.kind)
        todo.extend(cls.__subclasses__())
    return sorted(found)


ERROR_COMPONENTS = {
    "FieldErrors": {
        "type": "object",
        "description": "The request was refused before anything was sent to Kodexa: a list of messages for each "
        "field (camelCase, as sent) or query parameter at fault; `nonFieldErrors` for the request as a whole (a "
        "body that is not JSON, or not a JSON object). A nested field (a list item, a filter) has an object of "
        "its own errors instead of a list.",
        "additionalProperties": {
            "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object", "additionalProperties": {}}]
        },
        "example": {"sliceOrder": ["Must be at most 2147483647 (int32)."], "colour": ["Unknown field."]},
    },
    "Error": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
        "example": {"detail": "Authentication credentials were not provided."},
    },
    "KodexaFailure": {
        "type": "object",
        "description": "Kodexa did not apply the change (the attempt is in the audit log either way).",
        "required": ["detail", "kind"],
        "properties": {
            "detail": {"type": "string", "description": "What happened and what to do about it."},
            "kind": {"type": "string", "enum": _kodexa_kinds()},
            "upstream": {"description": "Kodexa's answer (400, 404 and 409), secrets redacted."},
            "upstreamStatus": {
                "type": "integer",
                "nullable": True,
                "description": "Kodexa's status code (429 and 5xx; null: no answer came).",
            },
            "current": {
                "type": "object",
                "nullable": True,
                "additionalProperties": True,
                "description": "409 only: the record as it is on Kodexa now, when it could be read.",
            },
        },
    },
}
_DESCRIPTIONS = {
    400: "Invalid request: field errors (nothing was sent to Kodexa).",
    401: "No credentials, or an unknown, expired or revoked token (`Authorization: Token <token>`): `detail` says.",
    403: "The user's role does not allow this.",
    404: "No such record or page.",
    409: "Conflict: Kodexa holds a newer version (a stale `changeSequence`); `current` is that version.",
    413: "The request body is larger than the console accepts; `detail` says the limit.",
    415: "The body is not `application/json`.",
    429: "Kodexa is rate limiting the console and the wait is too long to hold the request; see `Retry-After`.",
    502: "Kodexa failed, refused the console's key, answered outside its contract, or could not be reached.",
    503: "The console's database is busy or restarting: try again after `Retry-After` seconds.",
    504: "Kodexa did not answer in time; it may still have applied the change.",
}


def error_responses(*codes: int, kodexa: bool = False) -> dict[int, OpenApiResponse]:
    """The error answers of an operation; `kodexa`: it calls Kodexa, whose refusals come back as `KodexaFailure`."""
    answers = {}
    for code in codes:
        if code == 400:
            schema = {"oneOf": [ref("FieldErrors"), ref("KodexaFailure")]} if kodexa else ref("FieldErrors")
            description = _DESCRIPTIONS[400] + (" Or Kodexa rejected them (`kind: validation`)." if kodexa else "")
        elif code == 404 and kodexa:
            schema = {"oneOf": [ref("Error"), ref("KodexaFailure")]}
            description = "Kodexa does not know the record (`kind: not_found`), or no such route."
        elif code in (409, 429, 502, 504):
            schema, description = ref("KodexaFailure"), _DESCRIPTIONS[code]
        else:
            schema, description = ref("Error"), _DESCRIPTIONS[code]
        answers[code] = OpenApiResponse(schema, description=description)
    return answers


READ_ERRORS = (401, 403, 404)
KODEXA_CHANGE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429, 502, 504)


def _query_parameter(parameter: dict) -> None:
    """A query parameter given empty (`?since=`, as a form sends an unfilled field) counts as not given; no query
    text may hold a NUL character."""
    schema = parameter["schema"]
    if schema.get("type") == "string" and not {"format", "pattern", "enum"} & set(schema):
        schema["pattern"] = _NO_NUL
    if "enum" in schema and "" not in schema["enum"]:
        schema["enum"] = [*schema["enum"], ""]
    if schema.get("type") in ("integer", "number", "boolean") or "format" in schema:
        parameter["schema"] = {"oneOf": [schema, {"type": "string", "maxLength": 0}]}
        described = parameter.get("description", "").strip().rstrip(".")
        parameter["description"] = f"{described}. Empty: not given." if described else "Empty: not given."


_RATE_LIMITED = "Too many requests with these credentials (`API_RATE_LIMIT`): try again after `Retry-After` seconds."


def _console_rate_limit(responses: dict) -> None:
    """Any operation may be refused by the console's own rate limit (`Error`), beside Kodexa's (`KodexaFailure`)."""
    kodexa = responses.get("429")
    if kodexa is None:
        responses["429"] = {"description": _RATE_LIMITED, "content": {"application/json": {"schema": ref("Error")}}}
        return
    kodexa["description"] = f"{_RATE_LIMITED} Or: {kodexa['description']}"
    for media in kodexa.get("content", {}).values():
        media["schema"] = {"anyOf": [ref("Error"), media["schema"]]}


def postprocess(result, generator, request, public):
    """Adds the components named by reference only, and the headers some answers carry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(RECORD_COMPONENTS)
    schemas.update(ERROR_COMPONENTS)
    if "BulkEditRequest" in schemas:  # a selection is a filter or ids, never both nor neither
        schemas["BulkEditRequest"]["oneOf"] = [{"required": ["filter"]}, {"required": ["ids"]}]
    # Every route takes an optional trailing slash: the schema names each without.
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result.get("paths", {}).items()}
    for path in result["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    _query_parameter(parameter)
            body = operation.get("requestBody")
            if body and any(
                media.get("schema") == ref("OrchestratorExecutionSliceReplaceRequest")
                for media in body.get("content", {}).values()
            ):
                body["required"] = True
            operation.setdefault("responses", {}).setdefault(
                "406",
                {
                    "description": "The `Accept` header allows no JSON.",
                    "content": {"application/json": {"schema": ref("Error")}},
                },
            )
            _console_rate_limit(operation["responses"])
            for code, answer in operation["responses"].items():
                if code in ("429", "503"):
                    answer["headers"] = {
                        "Retry-After": {
                            "schema": {"type": "integer", "minimum": 0},
                            "description": "Seconds to wait before trying again.",
                        }
                    }
                elif code == "401":
                    answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Token`."}}
    return result


# --- the schema itself ----------------------------------------------------------------------------------------------
class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema of this API: JSON by default, YAML with `?format=yaml` or by content negotiation."""

    renderer_classes = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer]
    permission_classes = [RolePermission]
