"""The message: one line for people (Slack's `text`, its quoted parts escaped) with the job's link, and the facts as
structured JSON; `failed` for a job cancelled or with any failed or conflicting item."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.bulk.progress import progress
from slices_admin.notifications import payload

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
DELIVERY = uuid.UUID("7b0e9a52-1f5c-4c1e-9a57-0d6a8c1e2f3b")


@pytest.fixture(autouse=True)
def console(settings):
    settings.CONSOLE_BASE_URL = "https://console.example.test"


@pytest.fixture
def job_with(make_user):
    """Jobs alice asked for, with items in the given states."""
    alice = make_user("operator", "alice")

    def make(*outcomes: str, reason: str = "re-queue after the outage", **fields) -> BulkEditJob:
        fields = {"state": "finished", "target_status": "PENDING", **fields}
        job = BulkEditJob.objects.create(
            created_by=alice, selection={"ids": []}, reason=reason, concurrency=4, **fields
        )
        BulkEditItem.objects.bulk_create(
            BulkEditItem(job=job, slice_id=f"s-{n}", state=state) for n, state in enumerate(outcomes)
        )
        return job

    return make


def message(job: BulkEditJob, event: str, note: str = "") -> dict:
    counts = progress(job).counts
    return json.loads(payload.build(job, event, counts, delivery_id=DELIVERY, occurred_at=AT, note=note))


def test_a_job_whose_items_all_succeeded_or_were_skipped_finished(job_with):
    job = job_with("succeeded", "succeeded", "succeeded", "skipped")
    assert payload.ended_event(job, progress(job).counts) == "finished"
    body = message(job, "finished")
    assert body["text"] == (
        f"Bulk edit {job.pk} finished: 3 succeeded, 1 skipped. (status → PENDING; asked by alice; reason: re-queue "
        f"after the outage) <https://console.example.test/bulk/{job.pk}/|Open bulk edit {job.pk}>"
    )
    assert body["event"] == "finished" and body["deliveryId"] == str(DELIVERY)
    assert body["occurredAt"] == "2026-12-01T09:30:00Z"
    facts = body["job"]
    assert facts["id"] == job.pk and facts["url"] == f"https://console.example.test/bulk/{job.pk}/"
    assert (facts["state"], facts["targetStatus"], facts["requestedBy"]) == ("finished", "PENDING", "alice")
    assert facts["total"] == 4 and facts["counts"]["succeeded"] == 3 and facts["counts"]["skipped"] == 1
    assert facts["counts"]["failed"] == facts["counts"]["conflict"] == 0
    assert facts["reason"] == "re-queue after the outage" and facts["pauseReason"] is None


@pytest.mark.parametrize("bad", ["failed", "conflict"])
def test_a_job_with_a_failed_or_conflicting_item_failed(job_with, bad):
    job = job_with("succeeded", bad, "succeeded")
    assert payload.ended_event(job, progress(job).counts) == "failed"
    text = message(job, "failed")["text"]
    noun = "1 failed" if bad == "failed" else "1 conflict"
    assert text.startswith(f"Bulk edit {job.pk} finished with failures: 2 succeeded, {noun}. (")


def test_a_cancelled_job_failed_and_says_who_cancelled_it(job_with, make_user):
    job = job_with("succeeded", "cancelled", "cancelled", state="cancelled", cancelled_by=make_user("admin", "bob"))
    assert payload.ended_event(job, progress(job).counts) == "failed"
    body = message(job, "failed")
    assert body["text"].startswith(f"Bulk edit {job.pk} was cancelled by bob: 1 succeeded, 2 cancelled. (")
    assert body["job"]["state"] == "cancelled" and body["job"]["cancelledBy"] == "bob"


def test_a_request_for_approval_says_how_many_slices_and_links_to_review_it(job_with):
    job = job_with(state="awaiting_approval", requested_count=1200, approval_expires_at=AT)
    body = message(job, "awaiting_approval")
    assert body["text"].startswith(f"Bulk edit {job.pk} awaits approval: 1,200 slices to change. (status → PENDING")
    assert body["text"].endswith(f"/bulk/{job.pk}/|Review it>")
    assert body["job"]["requestedCount"] == 1200 and body["job"]["approvalExpiresAt"] == "2026-12-01T09:30:00Z"


def test_an_outage_pause_gives_its_reason(job_with):
    job = job_with("succeeded", "pending", "in_flight", state="running")
    reason = "Kodexa is not answering (connection refused). Nothing is lost: the job goes on when Kodexa answers again."
    body = message(job, "paused", reason)
    assert body["text"].startswith(f"Bulk edit {job.pk} is paused: Kodexa is not answering (connection refused).")
    assert body["job"]["pauseReason"] == reason and body["job"]["counts"]["in_flight"] == 1


def test_an_undo_has_no_target_status_of_its_own(job_with):
    original = job_with("succeeded")
    undo = job_with("succeeded", target_status="", undo_of=original)
    body = message(undo, "finished")
    assert body["job"]["targetStatus"] is None and body["job"]["undoOf"] == original.pk
    assert "(earlier statuses put back;" in body["text"]


def test_the_text_is_one_line_with_the_reason_escaped_and_cut_the_body_keeps_all_of_it(job_with):
    reason = "<!channel> fix & retry\n\n<https://evil.example|click>" + " padding" * 30
    job = job_with("succeeded", reason=reason)
    body = message(job, "finished")
    text = body["text"]
    assert "\n" not in text and "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; fix &amp; retry &lt;https://evil.example|click&gt;" in text
    assert "…)" in text and len(text) < 400
    assert text.count("<") == 1  # the job's link alone
    assert body["job"]["reason"] == reason
