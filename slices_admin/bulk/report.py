"""What a bulk edit did, read from its item ledger for the job's page: its slices by the status they had before and
their outcome (one grouped query), and how many finished in each stretch of the job's time (one grouped query, the
database binning). Reads only; the figures' geometry is worked out here so the template only places it."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from django.db.models import Case, Count, IntegerField, Value, When
from django.utils import timezone

from .models import BulkEditItem, BulkEditJob

UNKNOWN = "?"  # a status nobody knew: blank in the ledger
State = BulkEditItem.State

_FINAL_COLUMNS = (State.SUCCEEDED, State.FAILED, State.CONFLICT, State.SKIPPED, State.CANCELLED)
_OPEN_COLUMNS = (State.PENDING, State.IN_FLIGHT)  # while the job can still have them
_WORDS = {State.CONFLICT: ("conflict", "conflicts"), State.IN_FLIGHT: ("in flight", "in flight")}


class JobReport:
    """A job's report, read only when a template asks for it: a fragment of the page that never shows it asks
    nothing of the database."""

    def __init__(self, job: BulkEditJob) -> None:
        self.job = job

    @cached_property
    def matrix(self) -> "OutcomeMatrix":
        return outcome_matrix(self.job)

    @cached_property
    def throughput(self) -> "Throughput":
        return throughput(self.job)


# --- before → after, by outcome -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    state: str
    label: str

    def words(self, count: int) -> str:
        """`120 succeeded`, `1 conflict`, `2 conflicts`."""
        one, many = _WORDS.get(State(self.state), (self.label.lower(), self.label.lower()))
        return f"{count:,} {one if count == 1 else many}"


@dataclass(frozen=True)
class Cell:
    column: Column
    count: int


@dataclass(frozen=True)
class MatrixRow:
    before: str
    after: str  # the status the edit sets: an undo's items each their own
    cells: tuple[Cell, ...]

    @property
    def total(self) -> int:
        return sum(cell.count for cell in self.cells)

    @property
    def summary(self) -> str:
        """`120 succeeded, 3 failed`: the outcomes it had, in the columns' order."""
        return ", ".join(cell.column.words(cell.count) for cell in self.cells if cell.count)


@dataclass(frozen=True)
class OutcomeMatrix:
    columns: tuple[Column, ...]
    rows: tuple[MatrixRow, ...]  # the most slices first

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(sum(row.cells[i].count for row in self.rows) for i in range(len(self.columns)))

    @property
    def total(self) -> int:
        return sum(row.total for row in self.rows)


def outcome_matrix(job: BulkEditJob) -> OutcomeMatrix:
    """The job's items counted by (status before, status set, outcome) in one GROUP BY. The still-open outcomes get
    a column while the job runs, or if any item is (left) in them."""
    grouped = (
        job.items.order_by()
        .values_list("before_status", "target_status", "state")
        .annotate(n=Count("id"))
        .values_list("before_status", "target_status", "state", "n")
    )
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for before, target, state, n in grouped:
        key = (before or UNKNOWN, target or job.target_status or UNKNOWN)
        row = counts.setdefault(key, {})
        row[state] = row.get(state, 0) + n
    seen = {state for row in counts.values() for state in row}
    states = [*_FINAL_COLUMNS, *(s for s in _OPEN_COLUMNS if not job.finished or s in seen)]
    columns = tuple(Column(state.value, state.label) for state in states)
    rows = [
        MatrixRow(before, after, tuple(Cell(column, row.get(column.state, 0)) for column in columns))
        for (before, after), row in counts.items()
    ]
    rows.sort(key=lambda row: (-row.total, row.before, row.after))
    return OutcomeMatrix(columns, tuple(rows))


# --- throughput over the job's time ---------------------------------------------------------------------------------
MAX_BINS = 60
# Bin widths that read well, the narrowest that keeps a job within MAX_BINS chosen. No width is more than 2.5 times
# the one before it, so a job gets 25 to 60 bins (one shorter than 2.5 s fewer).
_NICE_WIDTHS = tuple(
    timedelta(seconds=s)
    for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
) + tuple(timedelta(days=d) for d in (1, 2, 4, 7, 14, 28))
CHARTED = (State.SUCCEEDED, State.FAILED, State.CONFLICT)  # what was sent; skipped and cancelled items were not

# The drawing, in the SVG's own units (it scales to the page's width).
VIEW_WIDTH, VIEW_HEIGHT = 600, 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 8, 10, 22
_PLOT_WIDTH, _PLOT_HEIGHT = VIEW_WIDTH - _LEFT - _RIGHT, VIEW_HEIGHT - _TOP - _BOTTOM


def bin_width(span: timedelta) -> timedelta:
    for width in _NICE_WIDTHS:
        if span <= width * MAX_BINS:
            return width
    return _NICE_WIDTHS[-1] * -(-span // (_NICE_WIDTHS[-1] * MAX_BINS))


@dataclass(frozen=True)
class Bin:
    start: datetime
    end: datetime
    succeeded: int = 0
    failed: int = 0
    conflict: int = 0

    @property
    def failures(self) -> int:
        return self.failed + self.conflict


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str


@dataclass(frozen=True)
class Throughput:
    start: datetime
    end: datetime
    width: timedelta
    bins: tuple[Bin, ...]

    @property
    def succeeded(self) -> int:
        return sum(b.succeeded for b in self.bins)

    @property
    def failures(self) -> int:
        return sum(b.failures for b in self.bins)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failures

    @property
    def peak(self) -> int:
        """The top of the scale: bars and line share it, so a small number of failures looks small."""
        return max((max(b.succeeded, b.failures) for b in self.bins), default=0)

    @property
    def width_label(self) -> str:
        seconds = self.width.total_seconds()
        if seconds < 60:
            return f"{seconds:g} s"
        if seconds < 3600:
            return f"{seconds / 60:g} min"
        if seconds < 86400:
            return f"{seconds / 3600:g} h"
        return f"{seconds / 86400:g} day{'' if seconds == 86400 else 's'}"

    def clock(self, when: datetime) -> str:
        """A bin edge as the table and the axis show it: to the tenth of a second when bins are that narrow, with
        the date when the job spans days."""
        local = timezone.localtime(when)
        text = f"{local:%H:%M:%S}"
        if self.width < timedelta(seconds=1):
            text += f".{local.microsecond // 100_000}"
        if timezone.localtime(self.start).date() != timezone.localtime(self.end).date():
            text = f"{local:%Y-%m-%d} {text}"
        return text

    @property
    def zone(self) -> str:
        return timezone.get_current_timezone_name()

    @property
    def start_label(self) -> str:
        return self.clock(self.start)

    @property
    def end_label(self) -> str:
        return self.clock(self.end)

    @property
    def rows(self) -> list[tuple[str, str, Bin]]:
        """(from, to, bin) for the figures' table."""
        return [(self.clock(b.start), self.clock(b.end), b) for b in self.bins]

    # The drawing: bars of what succeeded, a line (and dots where there were any) of failures and conflicts.
    view_width, view_height = VIEW_WIDTH, VIEW_HEIGHT
    left, right, top, baseline = _LEFT, VIEW_WIDTH - _RIGHT, _TOP, _TOP + _PLOT_HEIGHT
    label_y = VIEW_HEIGHT - 6

    def _x(self, index: float) -> float:
        return _LEFT + index * _PLOT_WIDTH / len(self.bins)

    def _y(self, count: int) -> float:
        return _TOP + _PLOT_HEIGHT * (1 - count / self.peak) if self.peak else float(self.baseline)

    @property
    def bars(self) -> list[Bar]:
        slot = _PLOT_WIDTH / len(self.bins)
        return [
            Bar(_n(self._x(i) + slot * 0.1), _n(self._y(b.succeeded)), _n(max(slot * 0.8, 0.5)),
                _n(self.baseline - self._y(b.succeeded)))
            for i, b in enumerate(self.bins)
            if b.succeeded
        ]  # fmt: skip

    @property
    def failure_points(self) -> str:
        return " ".join(f"{_n(self._x(i + 0.5))},{_n(self._y(b.failures))}" for i, b in enumerate(self.bins))

    @property
    def failure_dots(self) -> list[tuple[str, str]]:
        return [(_n(self._x(i + 0.5)), _n(self._y(b.failures))) for i, b in enumerate(self.bins) if b.failures]


def _n(value: float) -> str:
    """A coordinate for an SVG attribute: a dot for the decimals, whatever the locale."""
    return f"{value:.1f}"


def _bin_number(edges: list[datetime], first: int, stop: int) -> Case | Value:
    """The number of the bin (from `first` up to `stop`) an item's `finished_at` falls in: CASEs nested as a binary
    search over the edges, so each row is compared some six times rather than up to sixty."""
    if stop - first == 1:
        return Value(first)
    middle = (first + stop) // 2
    return Case(
        When(finished_at__lt=edges[middle], then=_bin_number(edges, first, middle)),
        default=_bin_number(edges, middle, stop),
        output_field=IntegerField(),
    )


def throughput(job: BulkEditJob, now: datetime | None = None) -> Throughput:
    """Items that were sent and ended, by the bin their `finished_at` falls in, from the job's start to its end (or
    now). The database numbers each item's bin (CASEs over the bins' edges) and counts them in one GROUP BY; an item
    that ended just outside the span (a clock's skew) counts in the bin at that edge."""
    start = job.started_at or job.created_at
    end = max(job.finished_at or now or timezone.now(), start)
    width = bin_width(end - start)
    count = max(1, -(-(end - start) // width))
    edges = [start + width * i for i in range(count + 1)]
    number = _bin_number(edges, 0, count)
    grouped = (
        job.items.filter(finished_at__isnull=False, state__in=CHARTED)
        .order_by()
        .annotate(bin=number)
        .values_list("bin", "state")
        .annotate(n=Count("id"))
        .values_list("bin", "state", "n")
    )
    counts: dict[tuple[int, str], int] = {(index, state): n for index, state, n in grouped}
    bins = tuple(
        Bin(
            edges[i],
            edges[i + 1],
            succeeded=counts.get((i, State.SUCCEEDED), 0),
            failed=counts.get((i, State.FAILED), 0),
            conflict=counts.get((i, State.CONFLICT), 0),
        )
        for i in range(count)
    )
    return Throughput(start, end, width, bins)
