"""The list fragment, the JSON API's list and Django admin's changelist on PostgreSQL, at several cache sizes, side by
side in one run.

The searches are the SQLite section's (`browsing.combinations`) and those that read many rows on PostgreSQL: an
error sorted by duration, start or completion, two statuses sorted by status, a day of queue time sorted by
creation, a text search under several sorts. Every size has its own database (`pgdatabases`); each round times
every combination at every size, the three sides in rotating order, so machine noise hits them all alike. After the
timing, the console's queries of each combination are explained (`pgplans`): rows and pages touched say what a
plan costs better than milliseconds on a busy machine.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Max
from django.test import Client
from django.urls import reverse

from slices_admin.slices.models import OrchestratorSlice

from . import pgdatabases, pgplans
from .browsing import ERROR_TEXT, PAGE_SIZE, TARGET_P95_MS, Combination, combinations, get_ms, logged_in
from .support import check_fragment, iso, summary

TARGET_GROWTH = 1.5  # p95 at the largest size within this many times p95 at the smallest
SIDES = ("console", "api", "admin")
_NO_SORT = "not a changelist column, so admin cannot sort by it: its default order (-updated_on)"


def extra_combinations() -> list[Combination]:
    """The searches beyond the SQLite section's: those whose matches sit far along the sort's index."""
    newest = OrchestratorSlice.objects.aggregate(newest=Max("queued_at"))["newest"]
    day_start = datetime.combine(newest.date() - timedelta(days=7), datetime.min.time(), tzinfo=UTC)
    day_end = day_start + timedelta(days=1) - timedelta(microseconds=1)
    error = [("hasError", "true")]
    admin_error = [("error_message__isnull", "False")]
    lifecycle = (("durationMs", "duration_ms"), ("-startedAt", "started_at"), ("-completedAt", "completed_at"))
    found: list[Combination] = [
        Combination(f"hasError=true, sort={sort}", [*error, ("sort", sort)], admin_error, f"{column} is {_NO_SORT}")
        for sort, column in lifecycle
    ]
    found += [
        Combination(
            "status=FAILED+CANCELLED, sort=status",
            [("status", "FAILED"), ("status", "CANCELLED"), ("sort", "status")],
            [("status__in", "FAILED,CANCELLED"), ("o", "2")],
        ),
        Combination(
            "queuedAt one day, sort=-createdOn",
            [("queuedAt_after", iso(day_start)), ("queuedAt_before", iso(day_end)), ("sort", "-createdOn")],
            [("queued_at__gte", iso(day_start)), ("queued_at__lte", iso(day_end))],
            f"created_on is {_NO_SORT}",
        ),
    ]
    admin_sorts = {"status": "2", "sliceOrder": "5"}
    for sort in ("durationMs", "-completedAt", "status", "sliceOrder", "-attemptNumber"):
        admin = [("q", ERROR_TEXT)] + ([("o", admin_sorts[sort])] if sort in admin_sorts else [])
        note = "" if sort in admin_sorts else f"{sort.lstrip('-')} is {_NO_SORT}"
        found.append(Combination(f"q={ERROR_TEXT}, sort={sort}", [("q", ERROR_TEXT), ("sort", sort)], admin, note))
    return found


def api_url(combination: Combination) -> str:
    query = urlencode([*combination.console, ("pageSize", PAGE_SIZE)])
    return f"{reverse('api:orchestrator-slice-list')}?{query}"


@dataclass
class Size:
    """One cache size: its database, its signed-in clients, its combinations and their samples."""

    rows: int
    database: str
    seed_seconds: float | None
    operator: Client
    admin: Client
    combinations: list[Combination]
    api_ms: dict[str, list[float]] = field(default_factory=dict)


def _size(server: str, rows: int, log) -> Size:
    seconds = pgdatabases.prepare(server, rows, log)
    name = pgdatabases.database_name(rows)
    with pgdatabases.using(name):
        operator, admin = logged_in("operator"), logged_in("admin")
        measured = [*combinations(), *extra_combinations()]
        for combination in measured:
            check_fragment(operator, combination.console_url, b'id="slice-table"')
            get_ms(operator, api_url(combination))
    return Size(rows, name, seconds, operator, admin, measured, {c.name: [] for c in measured})


def _round(size: Size, number: int, timed: bool) -> None:
    for index, combination in enumerate(size.combinations):
        sides = {
            "console": (size.operator, combination.console_url, combination.console_ms, {"HTTP_HX_REQUEST": "true"}),
            "api": (size.operator, api_url(combination), size.api_ms[combination.name], {}),
            "admin": (size.admin, combination.admin_url, combination.admin_ms, {}),
        }
        turn = (number + index) % len(SIDES)
        for side in SIDES[turn:] + SIDES[:turn]:
            client, url, samples, headers = sides[side]
            elapsed = get_ms(client, url, **headers)
            if timed:
                samples.append(elapsed)


def _figures(size: Size, log) -> dict:
    with pgdatabases.using(size.database):
        log(f"  {size.database}: explaining plans, sizing the disk, timing sync page writes ...")
        results = []
        for combination in size.combinations:
            matches = pgplans.matches(combination.console)
            console, api, admin = (
                summary(combination.console_ms),
                summary(size.api_ms[combination.name]),
                summary(combination.admin_ms),
            )
            results.append(
                {
                    "name": combination.name,
                    "console_url": combination.console_url,
                    "api_url": api_url(combination),
                    "admin_url": combination.admin_url,
                    "admin_note": combination.admin_note,
                    "matching_rows": matches,
                    "console_ms": console,
                    "api_ms": api,
                    "admin_ms": admin,
                    "console_within_target": console["p95"] <= TARGET_P95_MS,
                    "api_within_target": api["p95"] <= TARGET_P95_MS,
                    "console_faster_than_admin": console["median"] < admin["median"],
                    "api_faster_than_admin": api["median"] < admin["median"],
                    "console_queries": pgplans.explained(size.operator, combination.console_url, htmx=True),
                    "api_queries": pgplans.explained(size.operator, api_url(combination)),
                }
            )
        return {
            "rows": size.rows,
            "database": size.database,
            "seed_seconds": None if size.seed_seconds is None else round(size.seed_seconds, 1),
            "disk": pgdatabases.disk(),
            "sync_page_write": pgdatabases.sync_page_cost(),
            "combinations": results,
        }


def _growth(sizes: list[dict]) -> list[dict]:
    """p95 at the largest size over p95 at the smallest, per combination and side (the cost must not grow)."""
    small, large = sizes[0], sizes[-1]
    found = []
    for before, after in zip(small["combinations"], large["combinations"], strict=True):
        ratios = {side: round(after[f"{side}_ms"]["p95"] / before[f"{side}_ms"]["p95"], 2) for side in SIDES}
        found.append(
            {
                "name": after["name"],
                "p95_ratio": ratios,
                "console_within_target": ratios["console"] <= TARGET_GROWTH,
                "api_within_target": ratios["api"] <= TARGET_GROWTH,
            }
        )
    return found


def measure(server: str, sizes: list[int], rounds: int, warmup: int, log=print) -> dict:
    """Prepare every size's database, time every combination at every size, then explain and size each."""
    prepared = [_size(server, rows, log) for rows in sorted(sizes)]
    log(f"Timing {len(prepared[0].combinations)} combinations x {len(SIDES)} sides at {len(prepared)} sizes ...")
    for number in range(warmup + rounds):
        order = prepared if number % 2 else prepared[::-1]
        for size in order:
            with pgdatabases.using(size.database):
                _round(size, number, timed=number >= warmup)
        log(f"  round {number + 1}/{warmup + rounds}{' (warm-up)' if number < warmup else ''}")
    figures = [_figures(size, log) for size in prepared]
    passing = all(
        row["console_within_target"]
        and row["api_within_target"]
        and row["console_faster_than_admin"]
        and row["api_faster_than_admin"]
        for size in figures
        for row in size["combinations"]
    )
    growth = _growth(figures) if len(figures) > 1 else []
    passing = passing and all(row["console_within_target"] and row["api_within_target"] for row in growth)
    return {
        "page_size": PAGE_SIZE,
        "target_p95_ms": TARGET_P95_MS,
        "target_growth": TARGET_GROWTH,
        "timed_requests": rounds,
        "warmup_requests": warmup,
        "sizes": figures,
        "growth": growth,
        "pass": passing,
    }
