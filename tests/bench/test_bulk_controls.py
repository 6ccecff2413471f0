"""The undo and maximum-rate benchmarks run end to end at a small size (a sandbox, a child process, SQLite), so the
code `make bench` runs keeps working; their targets are for the full size and are not checked here."""

import pytest

from bench import bulk_controls

ITEMS = 20


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    work = tmp_path_factory.mktemp("bulk-controls")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOG_FILE", str(work / "console.log"))  # the child's log lines, not var/bench.log
        return bulk_controls.measure(
            items=ITEMS, runs=1, database=work / "bench.sqlite3", sandbox_data=work / "sandbox.sqlite3", log=print
        )


def test_the_undo_puts_every_slice_back_with_two_accepted_puts_each(measured):
    undo = measured["undo"]
    (run,) = undo["runs"]
    assert run["edit"]["states"] == run["states"] == {"succeeded": ITEMS}
    assert (run["restored"], run["put_twice"], run["put_counts"]) == (ITEMS, ITEMS, {"2": ITEMS})
    assert undo["all_correct"]
    assert undo["median_seconds"] == run["seconds"] > 0
    assert undo["limit_seconds"] == ITEMS * bulk_controls.LATENCY_MS / 1000 / bulk_controls.CONCURRENCY


def test_the_rate_is_measured_from_the_puts_the_sandbox_accepted(measured):
    rate = measured["rate"]
    (run,) = rate["runs"]
    assert run["states"] == {"succeeded": ITEMS}
    assert run["accepted_puts"] == ITEMS
    assert run["measured_rate"] == pytest.approx((ITEMS - 1) / run["span_seconds"], rel=2e-3)
    assert run["deviation"] == pytest.approx(run["measured_rate"] / bulk_controls.MAX_RATE - 1, abs=1e-3)
    assert rate["all_correct"]


def test_the_table_shows_each_run_and_the_verdicts(measured):
    text = bulk_controls.table(measured["undo"], measured["rate"])
    assert "Undo of a bulk status edit: 20 slices" in text
    assert "median rate" in text
    assert text.count("PASS") + text.count("MISS") == 2
