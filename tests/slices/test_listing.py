"""The slice list: counts exact while cheap and bounded or estimated beyond, pages found without counting, the plan
a count chooses, and the column headers."""

import pytest
from django.db import connection
from django.http import QueryDict

from slices_admin.slices import selectors
from slices_admin.slices.listing import SliceList
from slices_admin.slices.models import OrchestratorSlice
from slices_admin.slices.pages import ORCHESTRATOR_PAGES
from tests.factories import at, cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db

LIST = "/slices/orchestrator/"


def listing(query: str = "", **options) -> SliceList:
    return SliceList(OrchestratorSlice, QueryDict(query), number=1, size=25, **options)


def test_counts_are_exact_when_cheap_and_bounded_beyond(as_role, monkeypatch):
    cache_orchestrator(*(orchestrator_record(status="FAILED") for _ in range(12)))
    assert str(selectors.bounded_count(OrchestratorSlice.objects.all())) == "12"
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 10)
    count = selectors.bounded_count(OrchestratorSlice.objects.all(), limit=10)
    assert (count.value, count.exact, str(count)) == (10, False, "10+")
    body = as_role("viewer").get(f"{LIST}?status=FAILED").content.decode()
    assert "10+</strong>" in body and "counting stops there" in body  # labelled as a bound, not a total


def test_the_unfiltered_total_is_an_estimate_once_large(monkeypatch):
    cache_orchestrator(*(orchestrator_record() for _ in range(12)))
    assert str(selectors.estimated_total(OrchestratorSlice)) == "12"
    if connection.vendor == "postgresql":  # the estimate comes from statistics: gather them
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE slices_orchestratorslice")
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 5)
    estimate = selectors.estimated_total(OrchestratorSlice)
    assert estimate.estimated and str(estimate) == "≈ 12"


def test_pages_know_whether_a_next_one_exists_without_counting():
    cache_orchestrator(*(orchestrator_record() for _ in range(30)))
    queryset = OrchestratorSlice.objects.order_by("id")
    first, last = selectors.slice_page(queryset, 1, 25), selectors.slice_page(queryset, 2, 25)
    assert (len(first.rows), first.has_next, len(last.rows), last.has_next) == (25, True, 5, False)
    assert (last.first_index, last.last_index) == (26, 30)


def test_a_text_search_with_many_matches_is_paged_in_order_and_counted(as_role):
    cache_orchestrator(*(orchestrator_record(errorMessage=f"disk full on node {n}", durationMs=n) for n in range(620)))
    response = as_role("viewer").get(LIST, {"q": "disk full", "sort": "durationMs"})
    count, rows = response.context["count"], response.context["page"].rows
    if connection.vendor == "postgresql":  # sorted all, counted in the same pass
        assert (count.value, count.exact) == (620, True)
    else:  # walked the sort's index: counted up to the search limit
        assert (count.value, count.exact) == (500, False)
    assert [row.duration_ms for row in rows] == list(range(50))


def _cache_of_disk_errors(count: int) -> list[dict]:
    """`count` slices failing with "disk full", the later updated the longer they ran, and as many without an
    error; statistics gathered (the plan follows the estimate)."""
    records = [
        orchestrator_record(errorMessage=f"disk full on node {n}", durationMs=n, updatedOn=at(n)) for n in range(count)
    ]
    cache_orchestrator(*records, *(orchestrator_record(updatedOn=at(n)) for n in range(count)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE slices_orchestratorslice")
    return records


def test_a_walk_finds_a_search_page_only_in_a_large_table_and_when_matches_are_a_large_share_of_it():
    assert not selectors.walk_finds_search_page(5_000, selectors.COUNT_LIMIT)  # small: sort every match
    assert selectors.walk_finds_search_page(80_000, 10_000_000)  # 0.8%: about 63,000 entries walked
    assert selectors.walk_finds_search_page(8_000, 1_000_000)  # the same share: the same walk
    assert not selectors.walk_finds_search_page(2_000, 10_000_000)  # 0.02%: the trigram index finds them
    assert not selectors.walk_finds_search_page(0, 10_000_000)


on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram plan and statistics")


@on_postgres
def test_a_search_matching_a_large_share_is_sorted_among_its_newest_matches_and_says_so(as_role, monkeypatch):
    records = _cache_of_disk_errors(30)
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 5)
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 8)
    response = as_role("viewer").get(LIST, {"q": "disk full", "sort": "-durationMs"})
    count, page = response.context["count"], response.context["page"]
    newest = sorted(records, key=lambda r: r["updatedOn"])[-8:]
    assert [row.id for row in page.rows] == [r["id"] for r in sorted(newest, key=lambda r: -r["durationMs"])]
    assert (count.estimated, page.sorted_among, page.has_next) == (True, 8, False)
    assert "sorted among the 8 most recently updated matches" in response.content.decode()


@on_postgres
def test_a_search_matching_a_large_share_sorted_by_update_walks_every_match(monkeypatch):
    records = _cache_of_disk_errors(30)
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 5)
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 8)
    pages = [SliceList(OrchestratorSlice, QueryDict("q=disk+full"), number=number, size=25).page for number in (1, 2)]
    assert [len(page.rows) for page in pages] == [25, 5] and pages[0].has_next and not pages[1].has_next
    assert pages[0].sorted_among is None
    shown = [row.id for page in pages for row in page.rows]
    assert shown == [r["id"] for r in sorted(records, key=lambda r: r["updatedOn"], reverse=True)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the errors' own indexes are PostgreSQL's only")
@pytest.mark.parametrize("sort", ["durationMs", "-durationMs", "startedAt", "-startedAt", "completedAt", "queuedAt"])
def test_errors_under_a_lifecycle_sort_walk_an_index_of_the_errors_alone(sort):
    """The walk the list takes when many match reads the errors' own index, not the whole sort's index whose empty
    start (the unfinished slices) holds no error at all."""
    from slices_admin.slices.filters import ordered, slice_filterset

    cache_orchestrator(*(orchestrator_record(status="RUNNING", errorMessage=None) for _ in range(40)))
    cache_orchestrator(*(orchestrator_record(status="FAILED", errorMessage="boom") for _ in range(5)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE slices_orchestratorslice")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")  # a table this small would be read whole and sorted
    walk = ordered(slice_filterset(OrchestratorSlice, QueryDict(f"hasError=true&sort={sort}")), walk_sort_index=True)
    index = {"durationMs": "duration", "startedAt": "started", "completedAt": "completed", "queuedAt": "queued"}
    assert f"orchestratorslice_e_{index[sort.lstrip('-')]}" in walk[:10].explain()
    assert len(walk[:10]) == 5


def test_several_statuses_are_one_in_condition():
    """An IN, which PostgreSQL seeks value by value in a status index; an OR of equalities it filtered row by row."""
    from slices_admin.slices.filters import slice_filterset

    cache_orchestrator(*(orchestrator_record(status=status) for status in ("FAILED", "RUNNING", "SUCCEEDED")))
    matches = slice_filterset(OrchestratorSlice, QueryDict("status=FAILED&status=RUNNING&status=FAILED")).qs
    assert " IN (" in str(matches.query) and " OR " not in str(matches.query)
    assert sorted(matches.values_list("status", flat=True)) == ["FAILED", "RUNNING"]
    one = slice_filterset(OrchestratorSlice, QueryDict("status=FAILED")).qs
    assert list(one.values_list("status", flat=True)) == ["FAILED"]
    cache_orchestrator(orchestrator_record(status=None))
    with_none = slice_filterset(OrchestratorSlice, QueryDict("status=FAILED&status=null")).qs
    assert sorted(with_none.values_list("status", flat=True), key=str) == ["FAILED", None]  # "null": no status


def test_a_page_reads_only_the_columns_it_shows_and_a_list_without_columns_whole_rows():
    cache_orchestrator(orchestrator_record())
    [shown] = listing(columns=ORCHESTRATOR_PAGES.columns).page.rows
    assert "raw" in shown.get_deferred_fields()
    [whole] = listing().page.rows
    assert whole.get_deferred_fields() == set()


def test_a_filtered_list_is_counted_exactly_while_few_match_and_unfiltered_by_the_tables_size():
    cache_orchestrator(*(orchestrator_record(status="FAILED") for _ in range(3)), orchestrator_record())
    failed = listing("status=FAILED")
    assert (failed.filtering, failed.count.value, failed.count.exact, len(failed.page.rows)) == (True, 3, True, 3)
    every = listing("sort=status&pageSize=25")
    assert (every.filtering, every.count.value, every.count.exact) == (False, 4, True)


def test_a_header_shows_its_sort_and_a_click_asks_for_the_other_direction():
    headers = {
        header["column"].sort: (header["state"], header["next_sort"])
        for header in listing("sort=-queuedAt", columns=ORCHESTRATOR_PAGES.columns).headers()
    }
    assert headers["queuedAt"] == ("desc", "queuedAt")
    assert headers["updatedOn"] == ("", "-updatedOn")  # a time column asks for the newest first
    assert headers["status"] == ("", "status")
