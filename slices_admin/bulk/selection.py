"""What a bulk edit applies to: every slice matching a slice-list filter (stored as its query string, resolved when
the job's items are made) or a list of ids. And the error a bulk edit that cannot be made as asked raises."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import OrchestratorSlice

_NOT_SELECTION = {"page", "pageSize", "sort"}


class BulkEditError(ValueError):
    """A bulk edit that cannot be made as asked, with a message per field (or `__all__`)."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Selection:
    """The slices a bulk edit applies to: every slice matching a list filter, or the ids given."""

    filter: str | None = None  # the list's query string
    ids: tuple[str, ...] = ()

    @classmethod
    def from_filter(cls, params: Mapping[str, Any] | QueryDict) -> "Selection":
        query = params.copy() if isinstance(params, QueryDict) else _query(params)
        for name in _NOT_SELECTION:
            query.pop(name, None)
        return cls(filter=query.urlencode())

    @classmethod
    def from_ids(cls, ids: Sequence[str]) -> "Selection":
        return cls(ids=tuple(dict.fromkeys(str(i) for i in ids if str(i).strip())))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Selection":
        return cls(filter=data["filter"]) if "filter" in data else cls(ids=tuple(data.get("ids", ())))

    def to_json(self) -> dict[str, Any]:
        return {"filter": self.filter} if self.filter is not None else {"ids": list(self.ids)}

    def queryset(self) -> QuerySet[OrchestratorSlice]:
        if self.filter is not None:
            filterset, queryset = filtered_slices(OrchestratorSlice, QueryDict(self.filter))
            if not filterset.is_valid():
                raise BulkEditError({name: " ".join(errors) for name, errors in filterset.errors.items()})
            return queryset
        return OrchestratorSlice.objects.filter(id__in=self.ids).order_by("id")

    def describe(self) -> str:
        if self.filter is None:
            return f"{len(self.ids)} selected slice{'s' if len(self.ids) != 1 else ''}"
        query = QueryDict(self.filter)
        parts = [f"{name} = {', '.join(query.getlist(name))}" for name in sorted(query) if any(query.getlist(name))]
        return "All slices matching " + ("; ".join(parts) if parts else "no filter (every cached slice)")


def _query(params: Mapping[str, Any]) -> QueryDict:
    query = QueryDict(mutable=True)
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        query.setlist(name, [str(v).lower() if isinstance(v, bool) else str(v) for v in values])
    return query
