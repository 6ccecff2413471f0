"""A list of cached slices as a page or the API shows it, kept apart from the views as Django admin keeps its
ChangeList: the filterset, a count that is exact only while it is cheap, the plan that finds the page, the headers."""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from . import selectors
from .filters import DEFAULT_PAGE_SIZE, PAGE_SIZES, ordered, slice_filterset
from .models import SliceRecord
from .pages import Column
from .selectors import MatchCount, SlicePage

LIST_STATE = frozenset({"sort", "page", "pageSize"})  # parameters that page or order the matches, not filter them
DEFAULT_SORT = "-updatedOn"


def page_size_from(params: Mapping[str, Any]) -> int:
    try:
        size = int(params.get("pageSize", DEFAULT_PAGE_SIZE))
    except (TypeError, ValueError):
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def page_number_from(params: Mapping[str, Any]) -> int:
    try:
        return max(1, min(int(params.get("page", 1)), 100_000))
    except (TypeError, ValueError):
        return 1


class SliceList:
    """Page `number` of `size` rows of `model`'s slices matching `params`, and how many match.

    Counted and read on first use (a caller may check `filterset.is_valid()` first): with no filter the table's
    size is the database's estimate; otherwise matches are counted up to a bound, and how many there are chooses
    the plan (see `filters.ordered`). `columns`: those a page shows, the only ones read (never the wide JSON ones);
    none: whole rows."""

    def __init__(
        self, model: type[SliceRecord], params: QueryDict, *, number: int, size: int, columns: Sequence[Column] = ()
    ) -> None:
        self.model = model
        self.number, self.size = number, size
        self.columns = tuple(columns)
        self.filterset = slice_filterset(model, params)
        self.filtering = any(value for name, value in params.items() if name not in LIST_STATE)
        self.searching = bool(params.get("q"))
        self.sort = params.get("sort", DEFAULT_SORT)

    @property
    def count(self) -> MatchCount:
        return self._counted_page[0]

    @property
    def page(self) -> SlicePage:
        return self._counted_page[1]

    @cached_property
    def _counted_page(self) -> tuple[MatchCount, SlicePage]:
        if not self.filtering:
            return selectors.estimated_total(self.model), self._page()
        if self.searching and selectors.sorts_search_matches():
            expected = selectors.planned_rows(self.filterset.qs)
            if selectors.walk_finds_search_page(expected, selectors.estimated_total(self.model).value):
                return self._newest_search_matches(expected)
        count = selectors.bounded_count(self.filterset.qs, limit=selectors.count_limit(searching=self.searching))
        if count.exact:  # few matches: read them and sort them
            return count, self._page(sort_matches=True)
        if self.searching and selectors.sorts_search_matches():  # many found by text: sorted, and counted meanwhile
            page, count = selectors.counted_page(self._matches(sort_matches=True), self.number, self.size)
            return count, page
        return count, self._page(walk_sort_index=True)  # many: a page comes fastest from the sort's own index

    def _newest_search_matches(self, expected: int) -> tuple[MatchCount, SlicePage]:
        """A text search matching a large share of a large table (PostgreSQL): the statistics' estimate of how many
        match, and a page found by walking the newest-first index, which carries the error message. Sorted newest
        first (or oldest first) that walk is the page, as deep as asked; sorted otherwise, the page is one of the
        `SEARCH_CANDIDATES` most recently updated matches sorted, and says so, rather than every match read and
        sorted (a cost that grows with the table)."""
        count = MatchCount(expected, exact=False, estimated=True)
        if self.sort.lstrip("-") == "updatedOn":  # the walk's own order: the ids up to this page, then its rows
            oldest_first = not self.sort.startswith("-")
            walked = selectors.newest_matches(self.filterset.qs, self.number * self.size + 1, oldest_first=oldest_first)
            shown = walked[(self.number - 1) * self.size :]
            rows = list(self._among(shown)[: self.size])
            return count, SlicePage(rows=rows, number=self.number, size=self.size, has_next=len(shown) > self.size)
        newest = selectors.newest_matches(self.filterset.qs, selectors.SEARCH_CANDIDATES)
        page = selectors.slice_page(self._among(newest), self.number, self.size)
        return count, replace(page, sorted_among=len(newest))

    def _among(self, ids: list[Any]) -> QuerySet[Any]:
        """The slices of `ids` in the list's order, only the columns shown."""
        among = slice_filterset(self.model, {"sort": self.sort}, self.model.objects.filter(pk__in=ids))
        matches = ordered(among, sort_matches=True)
        return matches.only(*(column.attr for column in self.columns)) if self.columns else matches

    def _matches(self, **plan: bool) -> QuerySet[Any]:
        matches = ordered(self.filterset, **plan)
        return matches.only(*(column.attr for column in self.columns)) if self.columns else matches

    def _page(self, **plan: bool) -> SlicePage:
        return selectors.slice_page(self._matches(**plan), self.number, self.size)

    def headers(self) -> list[dict[str, Any]]:
        """Each column's header: its sort state and the sort a click asks for (toggling the direction)."""
        return [_header(column, self.sort) for column in self.columns]


def _header(column: Column, current_sort: str) -> dict[str, Any]:
    state = "asc" if current_sort == column.sort else "desc" if current_sort == f"-{column.sort}" else ""
    next_sort = f"-{column.sort}" if state == "asc" or (not state and column.kind == "time") else column.sort
    return {"column": column, "state": state, "next_sort": next_sort}
