"""Reads for the slice lists and pages: pages without COUNT(*), bounded counts, estimates, siblings. Reads only:
which of them a list uses is `listing`, how a value reads on a page is `formatting`."""

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, F, QuerySet, Window

from .models import SliceRecord

COUNT_LIMIT = 10_000
SEARCH_COUNT_LIMIT = 500
# A text search matching more than this many is sorted among its most recently updated matches (PostgreSQL).
SEARCH_CANDIDATES = 500
# How much cheaper reading one index entry in a walk is than fetching and sorting one match found by trigrams.
_WALK_ENTRY_SHARE = 10


@dataclass(frozen=True)
class MatchCount:
    """How many rows match: exact up to a bound, then "at least"; or an estimate of the whole table."""

    value: int
    exact: bool = True
    estimated: bool = False

    def __str__(self) -> str:
        if self.estimated:
            return f"≈ {self.value:,}"
        return f"{self.value:,}" if self.exact else f"{self.value:,}+"


@dataclass(frozen=True)
class SlicePage:
    rows: list[Any]  # slice rows (SliceRecord), some annotated: see `counted_page`
    number: int
    size: int
    has_next: bool
    sorted_among: int | None = None  # sorted among only this many matches, the most recently updated

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.size + len(self.rows)


def slice_page(queryset: QuerySet[Any], number: int, size: int) -> SlicePage:
    """One page by offset, asking for one row more than shown to learn whether a next page exists."""
    offset = (number - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return SlicePage(rows=rows[:size], number=number, size=size, has_next=len(rows) > size)


def count_limit(*, searching: bool) -> int:
    """How far a list counts its matches before choosing how to page them. A text search reads every error message
    it counts (on PostgreSQL the trigram index finds the candidates, each then read to check it), so it stops
    sooner."""
    return SEARCH_COUNT_LIMIT if searching else COUNT_LIMIT


def sorts_search_matches() -> bool:
    """Whether a text search with many matches is paged by sorting them all, counting them in the same pass
    (PostgreSQL: the trigram index finds them, and they are correlated with the sorts people pick, errors with long
    durations, so walking a sort's index would read most of the table), rather than by walking the sort's index
    (SQLite, which has no such index and reads every row to find them, where a walk stops at its page)."""
    return connection.vendor == "postgresql"


def planned_rows(queryset: QuerySet[Any]) -> int:
    """How many rows PostgreSQL's planner expects `queryset` to match, from its statistics (nothing is read)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


def walk_finds_search_page(expected: int, total: int) -> bool:
    """Whether walking the newest-first index (which carries the error message) to `SEARCH_CANDIDATES` matches
    reads less than finding all `expected` matches by trigrams and sorting them would: the walk reads about
    `SEARCH_CANDIDATES * total / expected` entries, as many at any table size while matches keep their share of it,
    where the trigram plan grows with the matches."""
    if total <= COUNT_LIMIT:  # a small table: reading and sorting every match is cheap, and keeps the whole order
        return False
    return expected > 0 and SEARCH_CANDIDATES * total <= _WALK_ENTRY_SHARE * expected * expected


def newest_matches(queryset: QuerySet[Any], limit: int, *, oldest_first: bool = False) -> list[Any]:
    """The ids of the `limit` most recently updated matches, in that order (or the least recently updated, oldest
    first): read from the newest-first index alone, where a page of whole rows would fetch every row it passes."""
    if oldest_first:
        order = [F("updated_on").asc(nulls_first=True), F("id").asc(nulls_first=True)]
    else:
        order = [F("updated_on").desc(nulls_last=True), F("id").desc(nulls_last=True)]
    return list(queryset.order_by(*order).values_list("pk", flat=True)[:limit])


def counted_page(queryset: QuerySet[Any], number: int, size: int) -> tuple[SlicePage, MatchCount]:
    """A page of sorted matches and how many match in all, in one query (`COUNT(*) OVER ()`): the sort reads every
    match anyway. A page past the end counts them separately."""
    page = slice_page(queryset.annotate(total_matches=Window(Count("*"))), number, size)
    total = page.rows[0].total_matches if page.rows else queryset.order_by().count()
    return page, MatchCount(total)


def bounded_count(queryset: QuerySet[Any], limit: int | None = None) -> MatchCount:
    """Exact up to `limit`; beyond it "limit+", without counting a million rows."""
    limit = COUNT_LIMIT if limit is None else limit
    found = queryset.order_by().values("pk")[: limit + 1].count()
    return MatchCount(min(found, limit), exact=found <= limit)


def estimated_total(model: type[SliceRecord]) -> MatchCount:
    """The table's size from the database's own statistics: instant at any size, labelled as an estimate."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # What the planner does: the last ANALYZE's rows per page, scaled to the table's size now.
            cursor.execute(
                "SELECT CASE WHEN reltuples < 0 OR relpages = 0 THEN 0 ELSE (reltuples / relpages * "
                "(pg_relation_size(oid) / current_setting('block_size')::int))::bigint END "
                "FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
        else:  # SQLite: rows are never deleted from the cache, so the highest rowid is the row count
            cursor.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}")  # noqa: S608 (a quoted table name)
        row = cursor.fetchone()
    value = max(0, int(row[0] or 0)) if row else 0
    if value <= COUNT_LIMIT:
        return MatchCount(model.objects.count())
    return MatchCount(value, exact=False, estimated=True)


def siblings(row: SliceRecord, group_field: str, limit: int = 500) -> list[SliceRecord]:
    """The slices of the same pipeline execution (or execution), in slice order."""
    value = getattr(row, group_field)
    if not value:
        return []
    fields = ("id", "status", "slice_order", "attempt_number", "error_message", "updated_on")
    return list(type(row).objects.filter(**{group_field: value}).order_by("slice_order", "id").only(*fields)[:limit])
