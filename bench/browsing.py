"""The list fragment against Django admin's changelist: the same searches, timed side by side in one run.

Both pages are requested in-process through Django's test client (the whole middleware stack and template
rendering, no network), the console as an operator with `HX-Request: true` (the results fragment htmx swaps in),
the admin as an admin. Requests alternate between the two, in alternating order, so machine noise hits both
alike. Both show 100 rows a page: admin's `list_per_page`, asked of the console with `pageSize=100`.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from slices_admin.accounts.roles import assign_role
from slices_admin.slices.filters import filtered_slices
from slices_admin.slices.models import OrchestratorSlice

from .support import check_fragment, iso, summary

TARGET_P95_MS = 100.0
PAGE_SIZE = 100
ERROR_TEXT = "ThrottlingException"  # in one of the sandbox's twelve failure messages
SLOW_QUERY_MS = 10.0  # queries slower than this are explained when a combination misses its target


@dataclass
class Combination:
    """One search as the console asks it and as the changelist asks it (with what the changelist cannot do)."""

    name: str
    console: list[tuple[str, str]]
    admin: list[tuple[str, str]]
    admin_note: str = ""
    console_ms: list[float] = field(default_factory=list)
    admin_ms: list[float] = field(default_factory=list)

    @property
    def console_url(self) -> str:
        return reverse("slices:list", args=["orchestrator"]) + "?" + urlencode([*self.console, ("pageSize", PAGE_SIZE)])

    @property
    def admin_url(self) -> str:
        url = reverse("admin:slices_orchestratorslice_changelist")
        return f"{url}?{urlencode(self.admin)}" if self.admin else url


def combinations() -> list[Combination]:
    """The searches measured, with values taken from the seeded data (a real id, execution, organization...)."""
    sample = OrchestratorSlice.objects.filter(id__gte="8").order_by("id").first()
    newest = OrchestratorSlice.objects.aggregate(newest=Max("updated_on"))["newest"]
    day_start = datetime.combine(newest.date() - timedelta(days=7), datetime.min.time(), tzinfo=UTC)
    day_end = day_start + timedelta(days=1) - timedelta(microseconds=1)
    now = iso(datetime.now(UTC))
    no_sort = "not a changelist column, so admin cannot sort by it: its default order (-updated_on)"
    return [
        Combination("default sort (-updatedOn)", [], []),
        Combination("status=FAILED", [("status", "FAILED")], [("status__exact", "FAILED")]),
        Combination(
            "status=FAILED+RUNNING",
            [("status", "FAILED"), ("status", "RUNNING")],
            [("status__in", "FAILED,RUNNING")],
        ),
        Combination(
            "pipelineExecutionId, sort=sliceOrder",
            [("pipelineExecutionId", sample.pipeline_execution_id), ("sort", "sliceOrder")],
            [("pipeline_execution_id", sample.pipeline_execution_id), ("o", "5")],
        ),
        Combination(
            "organizationId, sort=-queuedAt",
            [("organizationId", sample.organization_id), ("sort", "-queuedAt")],
            [("organization_id", sample.organization_id)],
            f"queued_at is {no_sort}",
        ),
        Combination(
            "moduleRuntimeId",
            [("moduleRuntimeId", sample.module_runtime_id)],
            [("module_runtime_id", sample.module_runtime_id)],
        ),
        Combination("attemptAtLeast=3", [("attemptAtLeast", "3")], [("attempt_number__gte", "3")]),
        Combination(
            "leaseExpired=true",
            [("leaseExpired", "true")],
            [("open_lease_expires_at__lt", now)],
            "the same derived column (leaseExpiresAt of a leased, unfinished slice)",
        ),
        Combination(
            "hasError=true, sort=-attemptNumber",
            [("hasError", "true"), ("sort", "-attemptNumber")],
            [("error_message__isnull", "False")],
            f"no empty-string exclusion (none are stored); attempt_number is {no_sort}",
        ),
        Combination("q=<exact id>", [("q", sample.id)], [("q", sample.id)], "search_fields =id, =uuid, error_message"),
        Combination(f"q={ERROR_TEXT}", [("q", ERROR_TEXT)], [("q", ERROR_TEXT)]),
        Combination(
            "updatedOn one day",
            [("updatedOn_after", iso(day_start)), ("updatedOn_before", iso(day_end))],
            [("updated_on__gte", iso(day_start)), ("updated_on__lte", iso(day_end))],
        ),
        Combination("sort=durationMs", [("sort", "durationMs")], [], f"duration_ms is {no_sort}"),
        Combination("sort=status", [("sort", "status")], [("o", "2")]),
        Combination(
            "status=SUCCEEDED, page 20",
            [("status", "SUCCEEDED"), ("page", "20")],
            [("status__exact", "SUCCEEDED"), ("p", "20")],
        ),
    ]


def bench_user(username: str, role: str):
    user, _ = get_user_model().objects.get_or_create(username=username)
    assign_role(user, role)
    return user


def logged_in(role: str) -> Client:
    """A test client with a session for a benchmark user of `role` (`localhost`, a host the settings allow)."""
    client = Client(SERVER_NAME="localhost")
    client.force_login(bench_user(f"bench-{role}", role))
    return client


def get_ms(client: Client, url: str, **headers) -> float:
    began = time.perf_counter()
    response = client.get(url, **headers)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed


def slow_queries(client: Client, url: str) -> list[dict]:
    """The queries of one console request slower than `SLOW_QUERY_MS`, each with SQLite's query plan."""
    with CaptureQueriesContext(connection) as captured:
        client.get(url, HTTP_HX_REQUEST="true")
    found = []
    for query in captured.captured_queries:
        ms = float(query["time"]) * 1000
        if ms < SLOW_QUERY_MS:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            plan = [row[-1] for row in cursor.fetchall()]
        found.append({"ms": round(ms, 1), "sql": query["sql"], "plan": plan})
    return found


def measure(rounds: int, warmup: int, log=print) -> list[dict]:
    """Time every combination `rounds` times on each side after `warmup` untimed rounds; one dict per combination."""
    operator, admin = logged_in("operator"), logged_in("admin")
    measured = combinations()
    for combination in measured:
        check_fragment(operator, combination.console_url, b'id="slice-table"')
    for number in range(warmup + rounds):
        for combination in measured:
            console = (operator, combination.console_url, combination.console_ms, {"HTTP_HX_REQUEST": "true"})
            changelist = (admin, combination.admin_url, combination.admin_ms, {})
            for client, url, samples, headers in (console, changelist) if number % 2 else (changelist, console):
                elapsed = get_ms(client, url, **headers)
                if number >= warmup:
                    samples.append(elapsed)
        log(f"  round {number + 1}/{warmup + rounds}{' (warm-up)' if number < warmup else ''}")
    results = []
    for combination in measured:
        console, changelist = summary(combination.console_ms), summary(combination.admin_ms)
        _filterset, queryset = filtered_slices(OrchestratorSlice, QueryDict(urlencode(combination.console)))
        fast = console["p95"] <= TARGET_P95_MS
        ahead = console["median"] < changelist["median"]
        results.append(
            {
                "name": combination.name,
                "console_url": combination.console_url,
                "admin_url": combination.admin_url,
                "admin_note": combination.admin_note,
                "matching_rows": queryset.count(),
                "console_ms": console,
                "admin_ms": changelist,
                "admin_over_console": {
                    "median": round(changelist["median"] / console["median"], 2),
                    "p95": round(changelist["p95"] / console["p95"], 2),
                },
                "p95_within_target": fast,
                "faster_than_admin": ahead,
                "pass": fast and ahead,
                "slow_queries": [] if fast and ahead else slow_queries(operator, combination.console_url),
            }
        )
    return results
