"""The query parameters of the API's lists and a bulk edit's filter object, as serializers built from the slice
filtersets: they document the parameters and refuse what the filters would take or miss (see `checked_slice_query`)."""

from typing import Any

import django_filters
from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from slices_admin.audit.selectors import Cursor
from slices_admin.kodexa.contract import INT32_MAX, INT32_MIN
from slices_admin.slices.filters import FILTERSETS, AnyValueMultipleFilter

from .serializers import ClosedSerializer, StrictBooleanField, StrictCharField, StrictIntegerField

MAX_PAGE_SIZE = 1000
MAX_ENTRY_ID = 10**18 - 1  # what the audit cursor reads
PAGE_SIZE_HELP = f"Entries a page (default 50; more than {MAX_PAGE_SIZE} give {MAX_PAGE_SIZE})."


class QueryTextField(serializers.CharField):
    default_error_messages = {"nul": "Must not contain NUL characters."}

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("nul")
        return super().to_internal_value(data)


class QueryBooleanField(serializers.ChoiceField):
    """`true` or `false` (empty: no filter): the values the list filters understand."""

    def __init__(self, **kwargs):
        super().__init__(choices=["true", "false"], required=False, allow_blank=True, **kwargs)


class StatusesField(serializers.ListField):
    """One status or several (`?status=A&status=B`; in a JSON filter object, a string or a list of strings)."""

    def __init__(self, *, json: bool, **kwargs):
        child = StrictCharField(allow_blank=True, trim_whitespace=False) if json else QueryTextField()
        super().__init__(child=child, required=False, **kwargs)
        self.json = json

    def to_internal_value(self, data):
        if self.json and isinstance(data, str):
            data = [data]
        return super().to_internal_value(data)  # any other value that is no list: DRF's `not_a_list`


def _filter_field(name: str, declared, *, json: bool) -> dict[str, serializers.Field]:
    label = declared.label or name
    if isinstance(declared, django_filters.OrderingFilter):
        return {}  # documented as a parameter of its own (comma-separated terms); the filterset checks it
    if isinstance(declared, django_filters.IsoDateTimeFromToRangeFilter):
        return {
            f"{name}_after": serializers.DateTimeField(required=False, help_text=f"{label}: at or after (ISO 8601)."),
            f"{name}_before": serializers.DateTimeField(required=False, help_text=f"{label}: before (ISO 8601)."),
        }
    if isinstance(declared, AnyValueMultipleFilter):
        return {name: StatusesField(json=json, help_text=f"{label}: any of these (any string Kodexa uses).")}
    if isinstance(declared, django_filters.BooleanFilter):
        return {
            name: StrictBooleanField(required=False, help_text=label) if json else QueryBooleanField(help_text=label)
        }
    if isinstance(declared, django_filters.NumberFilter):
        integer = StrictIntegerField if json else serializers.IntegerField
        return {name: integer(required=False, min_value=INT32_MIN, max_value=INT32_MAX, help_text=label)}
    if json:
        return {name: StrictCharField(required=False, allow_blank=True, trim_whitespace=False, help_text=label)}
    return {name: QueryTextField(help_text=label)}


def _slice_serializer(model, *, json: bool) -> type[serializers.Serializer]:
    attrs: dict[str, object] = {}  # the fields, and the filter object's docstring
    base: type[serializers.Serializer[Any]]
    for name, declared in FILTERSETS[model].base_filters.items():
        attrs.update(_filter_field(name, declared, json=json))
    if json:
        label = "Filter"
        base = ClosedSerializer
        attrs["__doc__"] = "The list filters the bulk edit selects by, as the orchestrator slice list takes them."
    else:
        label = "Query"
        base = serializers.Serializer
        attrs["page"] = serializers.IntegerField(required=False, min_value=1, help_text="The page, from 1.")
        attrs["pageSize"] = serializers.IntegerField(required=False, min_value=1, help_text=PAGE_SIZE_HELP)
    return type(f"{model.__name__}{label}", (base,), attrs)


QUERIES = {model: _slice_serializer(model, json=False) for model in FILTERSETS}
FILTER_OBJECTS = {model: _slice_serializer(model, json=True) for model in FILTERSETS}


def sort_parameter(model) -> OpenApiParameter:
    sorting = FILTERSETS[model].base_filters["sort"]
    terms = [term for term, _ in sorting.extra["choices"]]
    return OpenApiParameter(
        "sort",
        OpenApiTypes.STR,
        many=True,
        explode=False,
        style="form",
        enum=[*terms, ""],
        description="Sort terms, comma-separated (`-` first: descending; an empty one counts for nothing); default "
        "`-updatedOn`. Ties are ordered by the newest update and the id.",
    )


def slice_list_parameters(model) -> list:
    return [QUERIES[model], sort_parameter(model)]


def refuse_nul(params: QueryDict) -> None:
    """A 400 for a parameter holding a NUL character, which PostgreSQL cannot compare with anything."""
    bad = sorted({name for name, values in params.lists() if any("\x00" in value for value in values)})
    if bad:
        raise serializers.ValidationError({name: ["Must not contain NUL characters."] for name in bad})


def checked_slice_query(model, params: QueryDict) -> QueryDict:
    """`params` once every parameter the API documents holds a value it takes, or a 400 naming each bad one as sent.

    The filterset checks the sort alone. Its strict fields would also refuse a word for a yes/no, a bad date or a
    NUL, but differently: they take `1`, `0`, `True` and `False` for yes/no and any number (`1.5`, `1e99`: the API
    takes `true`, `false` and int32 only), and name a date range (`queuedAt`) rather than the parameter
    (`queuedAt_after`); the checks here come first, so the API's answers stay its own.
    """
    query = QUERIES[model](data=params)
    query.is_valid(raise_exception=True)
    return params


class AuditPageQuery(serializers.Serializer):
    """The audit log's keyset page: newest first, `before`/`after` an entry id, `last=1` for the oldest page."""

    before = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ENTRY_ID, help_text="Entries older than this entry id."
    )
    after = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ENTRY_ID, help_text="Entries newer than this entry id."
    )
    last = serializers.ChoiceField(choices=["1"], required=False, allow_blank=True, help_text="`1`: the oldest page.")
    pageSize = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=PAGE_SIZE_HELP,
    )


def checked_page_size(params: QueryDict, default: int) -> int:
    field = serializers.IntegerField(min_value=1)
    value = params.get("pageSize", "")
    if value == "":
        return default
    try:
        return min(field.run_validation(value), MAX_PAGE_SIZE)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"pageSize": exc.detail}) from exc


def checked_page(params: QueryDict, default_size: int) -> tuple[int, int]:
    """The page number (from 1) and the page size `params` ask for, or a 400 naming the bad one."""
    size = checked_page_size(params, default_size)
    value = params.get("page", "")
    if value == "":
        return 1, size
    try:
        return serializers.IntegerField(min_value=1).run_validation(value), size
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"page": exc.detail}) from exc


def checked_audit_page(params: QueryDict, default_size: int) -> tuple[Cursor, int]:
    """The cursor and page size `params` ask for, or a 400 naming each bad parameter."""
    query = AuditPageQuery(data=params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    if data.get("before") and data.get("after"):
        raise serializers.ValidationError({"after": ["Give before or after, not both."]})
    cursor = Cursor(before=data.get("before"), after=data.get("after"), last=data.get("last") == "1")
    return cursor, min(data.get("pageSize") or default_size, MAX_PAGE_SIZE)
