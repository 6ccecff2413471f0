"""Read helpers for slice pages: pages without COUNT(*), bounded counts, estimates, siblings."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count as DbCount
from django.db.models import QuerySet, Window

from .filters import DEFAULT_PAGE_SIZE, PAGE_SIZES

COUNT_LIMIT = 10_000
SEARCH_COUNT_LIMIT = 500


@dataclass(frozen=True)
class Count:
    """How many rows match: exact up to a bound, then "at least"; or an estimate of the whole table."""

    value: int
    exact: bool = True
    estimated: bool = False

    def __str__(self):
        if self.estimated:
            return f"≈ {self.value:,}"
        return f"{self.value:,}" if self.exact else f"{self.value:,}+"


@dataclass(frozen=True)
class SlicePage:
    rows: list
    number: int
    size: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.size + len(self.rows)


def page_size_from(params) -> int:
    try:
        size = int(params.get("pageSize", DEFAULT_PAGE_SIZE))
    except (TypeError, ValueError):
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def page_number_from(params) -> int:
    try:
        return max(1, min(int(params.get("page", 1)), 100_000))
    except (TypeError, ValueError):
        return 1


def slice_page(queryset: QuerySet, number: int, size: int) -> SlicePage:
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


def counted_page(queryset: QuerySet, number: int, size: int) -> tuple[SlicePage, Count]:
    """A page of sorted matches and how many match in all, in one query (`COUNT(*) OVER ()`): the sort reads every
    match anyway. A page past the end counts them separately."""
    page = slice_page(queryset.annotate(total_matches=Window(DbCount("*"))), number, size)
    total = page.rows[0].total_matches if page.rows else queryset.order_by().count()
    return page, Count(total)


def bounded_count(queryset: QuerySet, limit: int | None = None) -> Count:
    """Exact up to `limit`; beyond it "limit+", without counting a million rows."""
    limit = COUNT_LIMIT if limit is None else limit
    found = queryset.order_by().values("pk")[: limit + 1].count()
    return Count(min(found, limit), exact=found <= limit)


def estimated_total(model) -> Count:
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
        return Count(model.objects.count())
    return Count(value, exact=False, estimated=True)


def siblings(row, group_field: str, limit: int = 500) -> list:
    """The slices of the same pipeline execution (or execution), in slice order."""
    value = getattr(row, group_field)
    if not value:
        return []
    fields = ("id", "status", "slice_order", "attempt_number", "error_message", "updated_on")
    return list(type(row).objects.filter(**{group_field: value}).order_by("slice_order", "id").only(*fields)[:limit])


@dataclass(frozen=True)
class Phase:
    label: str
    start: float  # percent of the timeline's width
    width: float
    duration: str
    css: str


@dataclass(frozen=True)
class Marker:
    label: str
    at: float
    when: object
    css: str
    offset: str  # time since the first moment, e.g. "+1 min 58 s"


@dataclass(frozen=True)
class Timeline:
    phases: list[Phase]
    markers: list[Marker]
    ends_now: bool


def _human(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def timeline(row, now) -> Timeline | None:
    """The slice's lifecycle to scale: queued → leased → started → completed, lease expiry marked."""
    points = [
        ("Queued", row.queued_at),
        ("Leased", row.leased_at),
        ("Started", row.started_at),
        ("Completed", row.completed_at),
    ]
    known = [(label, when) for label, when in points if when is not None]
    if not known:
        return None
    first = min(when for _label, when in known)
    end = row.completed_at or now
    moments = [when for _label, when in known] + [end]
    if row.lease_expires_at:
        moments.append(row.lease_expires_at)
    last = max(moments)
    span = max((last - first).total_seconds(), 1.0)

    def at(when) -> float:
        return round((when - first).total_seconds() / span * 100, 2)

    phases = []
    names = {"Queued": ("Waiting for a worker", "wait"), "Leased": ("Starting", "lease"), "Started": ("Running", "run")}
    for (label, when), (_next_label, next_when) in zip(known, [*known[1:], ("end", end)], strict=True):
        if label == "Completed" or next_when < when:
            continue
        text, css = names[label]
        if next_when is end and row.completed_at is None:
            text += " (so far)"
        phases.append(
            Phase(text, at(when), max(at(next_when) - at(when), 0.3), _human((next_when - when).total_seconds()), css)
        )

    def marker(label, when, css) -> Marker:
        seconds = (when - first).total_seconds()
        return Marker(label, at(when), when, css, f"+{_human(seconds)}" if seconds else "start")

    markers = [marker(label, when, "point") for label, when in known]
    if row.lease_expires_at:
        expired = row.completed_at is None and row.lease_expires_at < now
        label = "Lease expired" if expired else "Lease expires"
        markers.append(marker(label, row.lease_expires_at, "expired" if expired else "lease"))
    return Timeline(phases=phases, markers=markers, ends_now=row.completed_at is None)


def readable_traceback(error_details) -> str:
    """A traceback carried in errorDetails (a string or a list of lines), as plain text to read; else ""."""
    if not isinstance(error_details, dict):
        return ""
    traceback = error_details.get("traceback") or error_details.get("stackTrace") or error_details.get("stack")
    if isinstance(traceback, str):
        return traceback
    if isinstance(traceback, list) and all(isinstance(line, str) for line in traceback):
        return "\n".join(line.rstrip("\n") for line in traceback)
    return ""


def relative_time(when, now) -> str:
    """`4 min ago` / `in 3 h`: a cheap, compact naturaltime for dense tables."""
    seconds = (now - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        text = "now" if seconds < 5 else f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{round(seconds / 60)} min"
    elif seconds < 86400:
        text = f"{seconds / 3600:.0f} h"
    else:
        text = f"{seconds / 86400:.0f} d"
    if text == "now":
        return text
    return f"in {text}" if future else f"{text} ago"
