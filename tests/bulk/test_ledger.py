"""The item ledger in the database: joining, claiming, marking and moving items, releasing a dead runner's, closing
a cancelled job. No sandbox, no threads."""

import pytest
from django.utils import timezone

from slices_admin.bulk import ledger
from slices_admin.bulk.models import BulkEditItem, BulkEditJob, BulkEditRunner

pytestmark = pytest.mark.django_db

LONG_AGO = "2020-01-01T00:00Z"


def job_of(*slice_ids: str, **fields) -> BulkEditJob:
    job = BulkEditJob.objects.create(
        selection={"ids": list(slice_ids)}, target_status="PENDING", reason="ledger", concurrency=2, **fields
    )
    BulkEditItem.objects.bulk_create(BulkEditItem(job=job, slice_id=slice_id) for slice_id in slice_ids)
    return job


def item(job: BulkEditJob, slice_id: str) -> BulkEditItem:
    return job.items.get(slice_id=slice_id)


def test_a_runner_joins_an_unfinished_job_and_starts_it():
    job = ledger.join(job_of("a").pk, "runner-1")
    assert job.state == "running" and job.started_at is not None
    assert list(job.runners.values_list("runner_id", flat=True)) == ["runner-1"]


def test_nobody_joins_a_job_that_is_over():
    job = job_of("a", state="finished")
    assert ledger.join(job.pk, "runner-1") is None and not BulkEditRunner.objects.exists()


def test_a_runner_claims_in_order_the_items_nobody_holds():
    job = job_of("a", "b", "c", "d")
    BulkEditItem.objects.filter(pk=item(job, "b").pk).update(runner_id="other")
    assert ledger.claim(job.pk, "me", 2) == [item(job, "a").pk, item(job, "c").pk]
    assert ledger.claim(job.pk, "me", 2) == [item(job, "d").pk]
    assert ledger.claim(job.pk, "me", 2) == []
    assert [i.slice_id for i in ledger.held([i.pk for i in job.items.all()], "me")] == ["a", "c", "d"]


def test_the_items_of_dead_runners_go_back_in_line_and_a_live_runners_stay_with_it():
    job = job_of("a", "b", "c", "d")
    BulkEditRunner.objects.create(job=job, runner_id="dead", heartbeat_at=LONG_AGO)
    BulkEditRunner.objects.create(job=job, runner_id="alive", heartbeat_at=timezone.now())
    BulkEditItem.objects.filter(pk=item(job, "a").pk).update(runner_id="dead", state="in_flight")
    BulkEditItem.objects.filter(pk=item(job, "b").pk).update(runner_id="alive")
    BulkEditItem.objects.filter(pk=item(job, "c").pk).update(runner_id="left")  # a runner that left without them
    assert ledger.release_dead_runners(job.pk) == 2
    assert {i.slice_id: (i.state, i.runner_id) for i in job.items.all()} == {
        "a": ("pending", ""), "b": ("pending", "alive"), "c": ("pending", ""), "d": ("pending", ""),
    }  # fmt: skip
    assert list(BulkEditRunner.objects.values_list("runner_id", flat=True)) == ["alive"]
    job.refresh_from_db()
    assert job.resumed_count == 1


def test_a_runner_given_up_for_dead_learns_it_from_its_next_heartbeat():
    ledger.join(job_of("a").pk, "runner-1")
    assert ledger.beat("runner-1")
    BulkEditRunner.objects.all().delete()  # another runner found it silent for too long
    assert not ledger.beat("runner-1")


def test_only_runners_that_beat_lately_count_as_live_and_only_for_unfinished_jobs():
    running, finished = job_of("a", state="running"), job_of("b", state="finished")
    BulkEditRunner.objects.create(job=running, runner_id="beating", heartbeat_at=timezone.now())
    BulkEditRunner.objects.create(job=running, runner_id="silent", heartbeat_at=LONG_AGO)
    BulkEditRunner.objects.create(job=finished, runner_id="leaving", heartbeat_at=timezone.now())
    assert ledger.live_runners(ledger.stale_before()) == {running.pk: 1}


def test_one_sweep_at_a_time_marks_a_job_as_having_runners_queued():
    job = job_of("a", state="running")
    stale = ledger.stale_before()
    assert ledger.mark_runners_queued(job.pk, stale)
    assert not ledger.mark_runners_queued(job.pk, stale)  # another sweep, moments later


def test_an_item_is_marked_in_flight_only_by_the_runner_holding_it():
    job = job_of("a")
    BulkEditItem.objects.filter(pk=item(job, "a").pk).update(runner_id="me")
    assert ledger.mark_in_flight(item(job, "a").pk, {"changeSequence": 7}, timezone.now(), "someone else") == 0
    base = {"changeSequence": 7, "status": "RUNNING", "errorMessage": None}
    assert ledger.mark_in_flight(item(job, "a").pk, base, timezone.now(), "me") == 1
    marked = item(job, "a")
    assert (marked.state, marked.sent_change_sequence) == ("in_flight", 7)
    assert (marked.before_status, marked.before_error_message) == ("RUNNING", "")  # what an undo puts back


def test_claimed_items_are_marked_in_flight_ahead_only_for_the_runner_holding_them_and_unmarked_if_never_sent():
    job = job_of("a", "b")
    BulkEditItem.objects.filter(pk=item(job, "a").pk).update(runner_id="me")
    BulkEditItem.objects.filter(pk=item(job, "b").pk).update(runner_id="someone else")
    bases = [(item(job, s).pk, {"changeSequence": 3, "status": "FAILED", "errorMessage": "x"}) for s in "ab"]
    assert ledger.mark_claimed_in_flight(bases, timezone.now(), "me") == {item(job, "a").pk}
    marked = item(job, "a")
    assert (marked.state, marked.sent_change_sequence, marked.before_status) == ("in_flight", 3, "FAILED")
    assert item(job, "b").state == "pending"
    # The thread about to send marks it again (its base may differ): a mark ahead does not stop it.
    assert ledger.mark_in_flight(marked.pk, {"changeSequence": 4}, timezone.now(), "me") == 1
    assert ledger.unmark([item(job, "a").pk, item(job, "b").pk], "me") == 1
    unsent = item(job, "a")
    assert (unsent.state, unsent.sent_change_sequence, unsent.runner_id) == ("pending", None, "me")


def test_an_item_moves_only_for_the_runner_holding_it_but_every_attempt_counts():
    job = job_of("a")
    BulkEditItem.objects.filter(pk=item(job, "a").pk).update(runner_id="me")
    ledger.save_item(item(job, "a"), BulkEditItem.State.FAILED, "someone else", attempted=True, message="late")
    assert (item(job, "a").state, item(job, "a").attempts) == ("pending", 1)
    ledger.save_item(item(job, "a"), BulkEditItem.State.SUCCEEDED, "me", attempted=True, message="done")
    moved = item(job, "a")
    assert (moved.state, moved.attempts, moved.message) == ("succeeded", 2, "done") and moved.finished_at
    ledger.save_item(moved, BulkEditItem.State.FAILED, "me")  # final: it stays as it ended
    assert item(job, "a").state == "succeeded"


def test_a_cancelled_job_closes_once_no_item_sent_is_left_unchecked():
    job = job_of("never-sent", "sent", state="running")
    BulkEditItem.objects.filter(pk=item(job, "sent").pk).update(sent_change_sequence=3)
    assert not ledger.finish_cancelled(job)
    assert item(job, "never-sent").state == "cancelled" and item(job, "sent").state == "pending"
    assert [i.slice_id for i in ledger.unknown_fates(job.pk, "me")] == ["sent"]  # taken to be checked
    BulkEditItem.objects.filter(pk=item(job, "sent").pk).update(state="succeeded")
    assert ledger.finish_cancelled(job)
    job.refresh_from_db()
    assert job.state == "cancelled" and job.finished_at is not None


def test_successes_saved_together_move_only_the_items_the_runner_holds_and_count_every_attempt():
    job = job_of("a", "b")
    BulkEditItem.objects.filter(pk=item(job, "a").pk).update(runner_id="me", state="in_flight")
    BulkEditItem.objects.filter(pk=item(job, "b").pk).update(runner_id="someone else", state="in_flight")
    ledger.save_successes([(item(job, "a"), 200, "", 8), (item(job, "b"), 200, "late", 9)], "me")
    mine, theirs = item(job, "a"), item(job, "b")
    assert (mine.state, mine.status_code, mine.result_change_sequence, mine.attempts) == ("succeeded", 200, 8, 1)
    assert mine.finished_at is not None
    assert (theirs.state, theirs.result_change_sequence, theirs.attempts) == ("in_flight", None, 1)
