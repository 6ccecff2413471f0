"""The benchmarks' shared helpers: the figures they print and the checks that keep them honest."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bench import support


def test_percentile_is_the_nearest_rank():
    samples = [float(n) for n in range(1, 101)]
    assert support.percentile(samples, 0.95) == 95.0
    assert support.percentile(samples, 0.5) == 50.0
    assert support.percentile([3.0, 1.0, 2.0], 0.99) == 3.0


def test_percentiles_and_summary_name_their_figures():
    samples = [10.0, 20.0, 30.0, 40.0]
    assert support.percentiles(samples) == {"p50_ms": 20.0, "p95_ms": 40.0, "p99_ms": 40.0, "max_ms": 40.0}
    assert support.summary(samples) == {"median": 25.0, "p95": 40.0, "min": 10.0, "max": 40.0}


def test_a_database_url_keeps_the_server_and_names_the_database():
    server = "postgres://console@127.0.0.1:54329/console"
    assert support.database_url(server, "console_load") == "postgres://console@127.0.0.1:54329/console_load"


def test_iso_moments_are_in_utc():
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))
    assert support.iso(moment) == datetime(2026, 1, 2, 1, 4, tzinfo=UTC).isoformat()


class _Answer:
    def __init__(self, content: bytes):
        self.content = content


class _Client:
    def __init__(self, content: bytes):
        self.content, self.asked = content, []

    def get(self, url, **headers):
        self.asked.append((url, headers))
        return _Answer(self.content)


def test_a_fragment_check_asks_as_htmx_and_returns_the_body():
    client = _Client(b'<table id="slice-table"></table>')
    assert support.check_fragment(client, "/slices/", b'id="slice-table"') == client.content
    assert client.asked == [("/slices/", {"HTTP_HX_REQUEST": "true"})]


@pytest.mark.parametrize("content", [b'<html><table id="slice-table"></table></html>', b"<p>No slices</p>"])
def test_a_whole_page_or_a_missing_marker_fails_the_fragment_check(content):
    with pytest.raises(RuntimeError, match="did not answer the fragment"):
        support.check_fragment(_Client(content), "/slices/", b'id="slice-table"')
