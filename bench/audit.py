"""The audit log at a million entries: keyset pages of three filters (and none), and export memory.

The `entries` fragment of `/audit/` (`HX-Request: true`, as htmx asks for it) through Django's test client, as a
viewer (whose queries leave security events out) and as an admin, for the first, a middle and the last page of each
filter: a middle page is the one that starts just older than the entry halfway down the filtered entries, newest
first. Every page is asked once per round, in alternating order, so machine noise hits all alike. Then, as an admin,
the CSV and JSON Lines exports, each of about ten thousand entries and of the whole log, with `bench/export.py`'s
tracemalloc peak. `bench.audit_seed` fills the log first.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlencode

from django.db.models import Count, Max
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from slices_admin.audit.filters import filtered_entries
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.selectors import DEFAULT_PAGE_SIZE, NEWEST_FIRST

from . import export
from .audit_events import ORCHESTRATOR
from .browsing import bench_user, get_ms, logged_in, slow_queries
from .support import check_fragment, iso, summary

TARGET_P95_MS = 50.0
PAGE_SIZE = DEFAULT_PAGE_SIZE  # the page as it opens: no pageSize asked
SMALL_EXPORT = 10_000  # entries in the filtered export
# Who reads: a viewer, the least role that may (security events are left out of every query), and an admin.
ROLES = ("viewer", "admin")


# --- measuring ----------------------------------------------------------------------------------------------------
@dataclass
class Page:
    """One page of one filter, and its timings."""

    name: str  # first | middle | last
    url: str
    samples: list[float] = field(default_factory=list)


@dataclass
class Filter:
    """One filter as one role sees it: a viewer's queries leave security events out, an admin's do not."""

    name: str
    params: list[tuple[str, str]]
    role: str = ""
    matching: int = 0
    pages: list[Page] = field(default_factory=list)


def filters() -> list[Filter]:
    """The filters measured, with values from the log: its busiest person, and a month before its last one."""
    people = AuditEntry.objects.exclude(actor_username__in=["system", "anonymous"])
    busiest = people.values("actor_username").annotate(n=Count("id")).order_by("-n").first()["actor_username"]
    newest = AuditEntry.objects.aggregate(newest=Max("occurred_at"))["newest"]
    since = datetime.combine(newest.date() - timedelta(days=60), datetime.min.time(), tzinfo=UTC)
    until = since + timedelta(days=30)
    return [
        Filter("no filter", []),
        Filter("outcome=failed", [("outcome", "failed")]),
        Filter(f"actor={busiest}", [("actor", busiest)]),
        Filter(
            f"resource=orchestrator, {since:%b %d}-{until:%b %d}",
            [("resource", ORCHESTRATOR), ("since", iso(since)), ("until", iso(until))],
        ),
    ]


def _pages(measured: Filter, user) -> list[Page]:
    """The filter's first page, its middle page (older than the entry halfway down) and its last page."""
    _filterset, queryset = filtered_entries(QueryDict(urlencode(measured.params)), user)
    measured.matching = queryset.count()
    middle = queryset.order_by(*NEWEST_FIRST).values_list("id", flat=True)[measured.matching // 2]
    url = reverse("audit:list") + "?"
    return [
        Page("first", url + urlencode(measured.params)),
        Page("middle", url + urlencode([*measured.params, ("before", middle)])),
        Page("last", url + urlencode([*measured.params, ("last", "1")])),
    ]


def _check_fragment(client: Client, url: str) -> None:
    """Fail loudly unless the page is a whole page of the entries fragment: that would time the wrong thing."""
    body = check_fragment(client, url, b'class="results-head"')
    if body.count(b"/audit/") < PAGE_SIZE or b"No entry matches" in body:  # a details link per entry
        raise RuntimeError(f"{url} answered less than a full page")


def measure_pages(rounds: int, warmup: int, log=print) -> list[dict]:
    """Time every page of every filter, for each of `ROLES`, `rounds` times after `warmup` untimed rounds; one
    dict per filter and role."""
    clients = {role: logged_in(role) for role in ROLES}
    measured, pages = [], []
    for role, client in clients.items():
        user = bench_user(f"bench-{role}", role)  # the one `logged_in` signed in
        for each in filters():
            each.role, each.pages = role, _pages(each, user)
            measured.append(each)
            pages += [(client, page) for page in each.pages]
    for client, page in pages:
        _check_fragment(client, page.url)
    for number in range(warmup + rounds):
        for client, page in pages if number % 2 else reversed(pages):
            elapsed = get_ms(client, page.url, HTTP_HX_REQUEST="true")
            if number >= warmup:
                page.samples.append(elapsed)
        log(f"  round {number + 1}/{warmup + rounds}{' (warm-up)' if number < warmup else ''}")
    results = []
    for each in measured:
        rows = []
        for page in each.pages:
            figures = summary(page.samples)
            fast = figures["p95"] <= TARGET_P95_MS
            rows.append(
                {
                    "page": page.name,
                    "url": page.url,
                    "ms": figures,
                    "pass": fast,
                    "slow_queries": [] if fast else slow_queries(clients[each.role], page.url),
                }
            )
        results.append(
            {
                "name": each.name,
                "role": each.role,
                "query": urlencode(each.params),
                "matching_entries": each.matching,
                "pages": rows,
            }
        )
    return results


def _small_window() -> list[tuple[str, str]]:
    """A time range holding about `SMALL_EXPORT` entries: the ones before the newest `SMALL_EXPORT`."""
    moments = AuditEntry.objects.order_by(*NEWEST_FIRST).values_list("occurred_at", flat=True)
    return [("since", iso(moments[2 * SMALL_EXPORT])), ("until", iso(moments[SMALL_EXPORT]))]


def measure_exports(client: Client, log=print) -> dict:
    """CSV and JSON Lines exports of about ten thousand entries against the whole log, as `bench/export.py`."""
    small = _small_window()
    figures = {}
    for name in ("csv", "jsonl"):
        path, header = reverse("audit:export", args=[name]), 1 if name == "csv" else 0
        log(f"  {name} export of {unquote(urlencode(small))} ...")
        filtered = export.measure_one(client, small, path=path, header_lines=header)
        log(f"  {name} export of the whole log ...")
        everything = export.measure_one(client, [], path=path, header_lines=header)
        ratio = everything["peak_traced_mib"] / max(filtered["peak_traced_mib"], 0.01)
        figures[name] = {
            "filtered": filtered,
            "all": everything,
            "peak_ratio_all_over_filtered": round(ratio, 2),
            "flat_factor_target": export.FLAT_FACTOR,
            "pass": ratio <= export.FLAT_FACTOR,
        }
    return figures


def measure(rounds: int, warmup: int, log=print) -> dict:
    """Pages as each role, then the exports as an admin (who sees, and exports, the whole log)."""
    log("Audit log pages ...")
    pages = measure_pages(rounds, warmup, log)
    log("Audit log exports ...")
    exports = measure_exports(logged_in("admin"), log)
    return {
        "pages": {
            "page_size": PAGE_SIZE,
            "target_p95_ms": TARGET_P95_MS,
            "timed_requests": rounds,
            "warmup_requests": warmup,
            "roles": list(ROLES),
            "filters": pages,
        },
        "exports": exports,
        "pass": all(p["pass"] for f in pages for p in f["pages"]) and all(e["pass"] for e in exports.values()),
    }
