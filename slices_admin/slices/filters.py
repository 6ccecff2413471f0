"""Filter and sort definitions shared by the HTML lists, the CSV export and the JSON API.

Query parameters are camelCase, as Kodexa's. Every bit of list state is a parameter, so a URL reproduces a view.
"""

import copy
import datetime as dt
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

import django_filters as filters
from django import forms
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.db.models.lookups import IsNull
from django.http import QueryDict
from django.utils import timezone
from django_filters.fields import IsoDateTimeField, IsoDateTimeRangeField

from .models import ExecutionSlice, OrchestratorSlice, SliceRecord

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50


class AnyValueMultipleChoiceField(forms.MultipleChoiceField):
    """Statuses are plain strings on the platform: accept any, several at once (`?status=A&status=B`)."""

    def valid_value(self, value: Any) -> bool:
        return True

    def validate(self, value: Any) -> None:
        super().validate(value)
        if any("\x00" in item for item in value):  # as forms.CharField: no query can carry a NUL to PostgreSQL
            raise forms.ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")


class AnyValueMultipleFilter(filters.MultipleChoiceFilter):
    field_class = AnyValueMultipleChoiceField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # One table, no joins: rows cannot repeat. django-filter's default DISTINCT makes PostgreSQL read and
        # de-duplicate every match before the first page or the bounded count can stop.
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: list[str]) -> QuerySet[Any]:
        """One `IN`, not django-filter's OR of equalities: PostgreSQL seeks each value in a status index for an
        `IN`, where it read an OR as a filter over the whole index (at 10,000,000 slices, counting failed and running
        read 310,000 index entries, not 10,000)."""
        values = list(dict.fromkeys(value or ()))
        if not values:
            return qs
        named = [item for item in values if item != self.null_value]
        matches = Q(**{f"{self.field_name}__in": named}) if named else Q()
        if len(named) < len(values):  # django-filter's "null": no status at all
            matches |= Q(**{f"{self.field_name}__isnull": True})
        return self.get_method(qs)(matches)


class StrictBooleanField(forms.NullBooleanField):
    """`true` or `false` (or nothing). Django's field reads anything else as "not given", which would drop the
    filter silently: `hasError=yes` would list, and bulk-edit, every slice."""

    widget = forms.TextInput  # hands over the word as sent (the select widget maps unknown words to "not given")

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]  # returns None, as NullBooleanField does
        if value in (None, ""):
            return None
        result = super().to_python(value)
        if result is None:
            raise forms.ValidationError("Use true or false.", code="invalid")
        return result


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time the database can compare: one with a UTC form (9999-12-31T23:59:59-01:00 has none,
    and would fail the query rather than the form)."""

    def to_python(self, value: Any) -> dt.datetime | None:
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date-time between the years 1 and 9999 (UTC).") from None


class UtcIsoDateTimeRangeField(IsoDateTimeRangeField):
    """django-filter's ISO 8601 range with UtcIsoDateTimeField at both ends (its widget, DateRangeWidget, kept)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Past IsoDateTimeRangeField's __init__, which would build two plain IsoDateTimeFields, to RangeField's.
        super(IsoDateTimeRangeField, self).__init__((UtcIsoDateTimeField(), UtcIsoDateTimeField()), *args, **kwargs)


class TimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """`<name>_after` / `<name>_before`, ISO 8601 (a date alone means its midnight, UTC)."""

    field_class = UtcIsoDateTimeRangeField


class SliceFilter(filters.FilterSet):
    # Narrower than django-filter's stubs say: its __init__ keeps `data or {}` and, with no queryset given, the
    # model's default manager, so neither is ever None.
    data: QueryDict | dict[str, Any]
    queryset: QuerySet[Any]

    q = filters.CharFilter(method="search", label="Search")
    status = AnyValueMultipleFilter(field_name="status", label="Status")
    organizationId = filters.CharFilter(field_name="organization_id", label="Organization")
    attemptAtLeast = filters.NumberFilter(field_name="attempt_number", lookup_expr="gte", label="Attempt ≥")
    hasError = StrictBooleanFilter(method="filter_has_error", label="Has an error")
    leaseExpired = StrictBooleanFilter(method="filter_lease_expired", label="Lease expired")
    queuedAt = TimeRangeFilter(field_name="queued_at", label="Queued")
    startedAt = TimeRangeFilter(field_name="started_at", label="Started")
    completedAt = TimeRangeFilter(field_name="completed_at", label="Completed")
    updatedOn = TimeRangeFilter(field_name="updated_on", label="Updated")

    # Filters on columns with few distinct values; with a composite index on (column, updated_on) for some.
    _BROAD = ("status", "organizationId", "moduleRuntimeId", "moduleRuntimeRef", "attemptAtLeast")
    _WITH_UPDATE_INDEX = ("status", "organizationId", "moduleRuntimeId", "moduleRuntimeRef")

    def __init__(self, *args: Any, walk_sort_index: bool = False, **kwargs: Any) -> None:
        """`walk_sort_index`: the filters match many rows, so page through the sort's index and check the broad
        filters row by row rather than read all matches and sort them (see lookups.Unindexed)."""
        super().__init__(*args, **kwargs)
        self.walk_sort_index = walk_sort_index
        if walk_sort_index:
            self.filters = self._walking_filters()

    def _walking_filters(self) -> OrderedDict[str, filters.Filter]:
        """The filters, with the broad ones checked row by row (their index out of play)."""
        sort = (self.data.get("sort") or "-updatedOn").lstrip("-")
        walking = self.filters.copy()
        for name in self._BROAD:
            if name in walking and not (sort == "updatedOn" and name in self._WITH_UPDATE_INDEX):
                walking[name] = copy.copy(walking[name])
                # Declared with a field_name, or given their own name by django-filter: never None here.
                walking[name].field_name = cast(str, walking[name].field_name) + "__unindexed"
        return walking

    def walking_qs(self) -> QuerySet[Any]:
        """The same matches as `qs` (the form is not built or cleaned again), found by walking the sort's index."""
        if not self.is_bound:
            return self.qs
        self.errors  # noqa: B018 (cleans the form, as `qs` does, before filtering)
        plain = self.filters
        self.filters, self.walk_sort_index = self._walking_filters(), True
        try:
            return self.filter_queryset(self.queryset.all())
        finally:
            self.filters, self.walk_sort_index = plain, False

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        """An exact id or uuid when one matches (an indexed lookup), otherwise text inside the error message."""
        value = value.strip()
        if not value:
            return queryset
        exact = queryset.filter(Q(id=value) | Q(uuid=value))
        if exact.exists():
            return exact
        return queryset.filter(error_message__icontains=value)

    def filter_has_error(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        # Neither null nor empty: one range the error index serves, unless the sort's index should be walked.
        column = "error_message__unindexed" if self.walk_sort_index else "error_message"
        has_error = Q(**{f"{column}__gt": ""})
        return queryset.filter(has_error) if value else queryset.exclude(has_error)

    def filter_lease_expired(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        """Leased, not completed, and the lease ran out (open_lease_expires_at is set only while leased and open)."""
        expired = Q(open_lease_expires_at__lt=timezone.now())
        return queryset.filter(expired) if value else queryset.exclude(expired)


def _sorting(*pairs: tuple[str, str]) -> filters.OrderingFilter:
    return filters.OrderingFilter(fields=pairs, label="Sort")


_COMMON_SORTS = (
    ("updated_on", "updatedOn"),
    ("created_on", "createdOn"),
    ("queued_at", "queuedAt"),
    ("started_at", "startedAt"),
    ("completed_at", "completedAt"),
    ("status", "status"),
    ("attempt_number", "attemptNumber"),
    ("slice_order", "sliceOrder"),
    ("duration_ms", "durationMs"),
    ("error_message", "errorMessage"),
    ("organization_id", "organizationId"),
    ("id", "id"),
)


class OrchestratorSliceFilter(SliceFilter):
    pipelineExecutionId = filters.CharFilter(field_name="pipeline_execution_id", label="Pipeline execution")
    moduleRuntimeId = filters.CharFilter(field_name="module_runtime_id", label="Module runtime")
    sort = _sorting(
        *_COMMON_SORTS, ("pipeline_execution_id", "pipelineExecutionId"), ("module_runtime_id", "moduleRuntimeId")
    )

    class Meta:
        model = OrchestratorSlice
        fields: list[str] = []


class ExecutionSliceFilter(SliceFilter):
    executionId = filters.CharFilter(field_name="execution_id", label="Execution")
    moduleRuntimeRef = filters.CharFilter(field_name="module_runtime_ref", label="Module runtime")
    sort = _sorting(*_COMMON_SORTS, ("execution_id", "executionId"), ("module_runtime_ref", "moduleRuntimeRef"))

    class Meta:
        model = ExecutionSlice
        fields: list[str] = []


FILTERSETS: dict[type[SliceRecord], type[SliceFilter]] = {
    OrchestratorSlice: OrchestratorSliceFilter,
    ExecutionSlice: ExecutionSliceFilter,
}


# Sorting by a column with few distinct values orders ties by the newest update: the composite indexes serve that.
_THEN_BY_UPDATE = {"status", "organization_id", "module_runtime_id", "module_runtime_ref"}
_THEN_BY_ORDER = {"pipeline_execution_id", "execution_id"}


def slice_filterset(
    model: type[SliceRecord], params: QueryDict | dict[str, Any], queryset: QuerySet[Any] | None = None
) -> SliceFilter:
    """The filterset of a list, its export or the API for these query parameters (its form built and cleaned once:
    `ordered` then gives each page plan's queryset from it), over `queryset` (default: every slice)."""
    return FILTERSETS[model](params, queryset=model.objects.all() if queryset is None else queryset)


def ordered(filterset: SliceFilter, *, walk_sort_index: bool = False, sort_matches: bool = False) -> QuerySet[Any]:
    """The filterset's matches in the list's order.

    The order is always total (ties broken by id, in the sort's direction), so offset pages never skip or repeat a
    row, and every sort has an index that serves it whole.

    How a page is found, when the caller knows how many rows match: `walk_sort_index` when many do (walk the sort's
    index, checking the filters row by row: see SliceFilter), `sort_matches` when few do (read the matches through
    the filters' indexes and sort them: PostgreSQL would otherwise walk the sort's index too, and where the matches
    all sit at its far end, as the slices failing with one error do under "Duration ▲", read most of the table).
    """
    queryset = filterset.walking_qs() if walk_sort_index else filterset.qs
    ordering = [str(term) for term in queryset.query.order_by] or ["-updated_on"]
    primary = ordering[0]
    descending, column = primary.startswith("-"), primary.lstrip("-")
    sign = "-" if descending else ""
    if column in _THEN_BY_UPDATE:
        ordering.append(f"{sign}updated_on")
    elif column in _THEN_BY_ORDER:
        ordering.append(f"{sign}slice_order")
    if ordering[-1].lstrip("-") != "id":
        ordering.append(f"{sign}id")
    terms = _empty_values_lowest(ordering)
    if sort_matches and connection.vendor == "postgresql":
        terms = [_no_index_serves(ordering[0]), *terms]
    return queryset.order_by(*terms)


def filtered_slices[SliceT: SliceRecord](
    model: type[SliceT],
    params: QueryDict | dict[str, Any],
    *,
    walk_sort_index: bool = False,
    sort_matches: bool = False,
) -> tuple[SliceFilter, QuerySet[SliceT]]:
    """The filterset and its matches in the list's order (see `ordered`), for callers that need one plan."""
    filterset = slice_filterset(model, params)
    return filterset, ordered(filterset, walk_sort_index=walk_sort_index, sort_matches=sort_matches)


def _empty_values_lowest(ordering: list[str]) -> Sequence[str | OrderBy]:
    """Sort as SQLite does everywhere: no value below any value (first going up, last going down). PostgreSQL
    does the opposite unless told; its sort indexes are built to match (migration 0003). A sort by id alone (never
    empty) stays as it is, for the primary key's index."""
    if connection.vendor != "postgresql" or ordering[0].lstrip("-") == "id":
        return ordering
    return [
        F(term[1:]).desc(nulls_last=True) if term.startswith("-") else F(term).asc(nulls_first=True)
        for term in ordering
    ]


def _no_index_serves(primary: str) -> OrderBy:
    """A first sort key equal in effect to the empty-values-lowest order of `primary`, but which no index provides:
    PostgreSQL then reads the matches through the filters' indexes and sorts them."""
    column = primary.lstrip("-")
    empty = IsNull(F(column), True)
    return empty.asc() if primary.startswith("-") else empty.desc()
