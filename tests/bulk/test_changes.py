"""The change a bulk edit makes and how many runners share a job: rules alone, no database."""

from slices_admin.bulk.changes import Change, runners_for


def test_a_change_needs_a_known_status_and_a_reason(settings):
    settings.BULK_TARGET_STATUSES = ["PENDING", "FAILED"]
    assert Change("PENDING", reason="re-queue").errors() == {}
    assert set(Change("EXPLODED", reason=" ").errors()) == {"targetStatus", "reason"}
    assert set(Change("PENDING", "x" * 10001, "y" * 2001).errors()) == {"errorMessage", "reason"}


def test_a_slice_already_at_the_target_is_applied_unless_its_message_must_change():
    assert Change("PENDING").already_applied("PENDING", "old note")  # the message is left alone
    assert not Change("PENDING").already_applied("FAILED", None)
    assert Change("PENDING", "").already_applied("PENDING", None)  # cleared is cleared
    assert not Change("PENDING", "").already_applied("PENDING", "old note")
    assert not Change("PENDING", "new note").already_applied("PENDING", "old note")


def test_applying_a_change_sets_the_status_and_sets_clears_or_keeps_the_message():
    record = {"id": "s1", "status": "FAILED", "errorMessage": "boom"}
    assert Change("PENDING").applied_to(record) == {**record, "status": "PENDING"}
    assert Change("PENDING", "").applied_to(record) == {**record, "status": "PENDING", "errorMessage": None}
    assert Change("PENDING", "why").applied_to(record) == {**record, "status": "PENDING", "errorMessage": "why"}


def test_runners_never_outnumber_the_requests_a_job_may_have_in_flight(settings):
    settings.BULK_RUNNERS_PER_JOB = 2
    assert [runners_for(c) for c in (1, 2, 3, 16)] == [1, 2, 2, 2]
