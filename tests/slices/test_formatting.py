"""Display helpers: how times, durations, ids and a slice's lifecycle read on a page."""

import datetime as dt

from slices_admin.slices.formatting import readable_traceback, relative_time, timeline
from slices_admin.slices.models import OrchestratorSlice


def test_the_timeline_is_to_scale_and_marks_an_expired_lease():
    row = OrchestratorSlice(
        queued_at=dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC),
        leased_at=dt.datetime(2026, 1, 1, 10, 10, tzinfo=dt.UTC),
        started_at=dt.datetime(2026, 1, 1, 10, 20, tzinfo=dt.UTC),
        lease_expires_at=dt.datetime(2026, 1, 1, 10, 25, tzinfo=dt.UTC),
        completed_at=None,
    )
    drawn = timeline(row, now=dt.datetime(2026, 1, 1, 10, 40, tzinfo=dt.UTC))
    assert [(p.label, p.start, p.width, p.duration) for p in drawn.phases] == [
        ("Waiting for a worker", 0.0, 25.0, "10 min 0 s"),
        ("Starting", 25.0, 25.0, "10 min 0 s"),
        ("Running (so far)", 50.0, 50.0, "20 min 0 s"),
    ]
    expired = drawn.markers[-1]
    assert (expired.label, expired.at, expired.css, expired.offset) == ("Lease expired", 62.5, "expired", "+25 min 0 s")
    assert drawn.ends_now


def test_a_traceback_as_a_string_or_a_list_of_lines_reads_as_text_and_anything_else_as_nothing():
    lines = ["Traceback (most recent call last):\n", "KeyError: 'a'"]
    assert readable_traceback({"traceback": lines}) == "Traceback (most recent call last):\nKeyError: 'a'"
    assert readable_traceback({"stackTrace": "at x.y"}) == "at x.y"
    assert readable_traceback({"traceback": 5}) == ""
    assert readable_traceback("not an object") == ""


def test_a_relative_time_says_ago_in_the_past_in_in_the_future_and_now_within_seconds():
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert relative_time(now - dt.timedelta(minutes=4), now) == "4 min ago"
    assert relative_time(now + dt.timedelta(hours=3), now) == "in 3 h"
    assert relative_time(now - dt.timedelta(seconds=2), now) == "now"
