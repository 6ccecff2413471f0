"""Undo of a bulk edit, worked by the real runner against the sandbox: only slices still as the edit left them go
back; one changed since is left alone and reported; one changed after the preview ends as a conflict; an undo can
be undone; and the sandbox's accepted-PUT counts prove nothing was applied twice."""

import pytest

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.runner import run_job
from tests.bulk.jobs import ORCH, job_for, states
from tests.factories import cache_orchestrator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def edited(kodexa, failed_slices, operator_user, n=8):
    """`n` FAILED slices (each with its own error message) set to PENDING by a finished bulk edit."""
    records = failed_slices(n)
    for number, record in enumerate(records):
        records[number] = kodexa.put(record, errorMessage=f"boom {number}")
    cache_orchestrator(*records)
    job = job_for(records, operator_user, target="PENDING", error_message="")
    assert run_job(job.pk) == "finished"
    job.refresh_from_db()
    assert states(job) == {"succeeded": n}
    return records, job


def undo(job, operator_user, **kwargs):
    return services.request_undo(job, reason="wrong pipeline", context=AuditContext(actor=operator_user), **kwargs)


def test_undo_puts_back_status_and_error_message_of_untouched_slices_only(kodexa, failed_slices, operator_user):
    records, job = edited(kodexa, failed_slices, operator_user)
    # Someone else changes one slice after the edit, and a sync brings it into the cache: the undo leaves it alone.
    touched = kodexa.put(kodexa.get(ORCH, records[0]["id"]), status="RUNNING")
    cache_orchestrator(touched)

    preview = services.undo_preview(job)
    assert (preview.to_change, preview.left_alone) == (7, 1)
    assert preview.change_rows == [("PENDING", "FAILED", 7)]
    assert preview.left_alone_sample[0]["id"] == touched["id"]
    assert "Changed since bulk edit" in preview.left_alone_sample[0]["why"]

    reverted = undo(job, operator_user)
    assert reverted.undo_of == job and reverted.reason.startswith(f"Undo of bulk edit {job.pk}: ")
    assert run_job(reverted.pk) == "finished"
    reverted.refresh_from_db()
    assert states(reverted) == {"succeeded": 7, "skipped": 1}
    left = reverted.items.get(slice_id=touched["id"])
    assert "Changed since" in left.message and left.attempts == 0

    counts = kodexa.stats()["putCounts"]
    for number, record in enumerate(records[1:], start=1):
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["errorMessage"]) == ("FAILED", f"boom {number}")
        assert counts[record["id"]] == 3  # the error message set up here, the edit, the undo: each once
    assert kodexa.get(ORCH, touched["id"])["status"] == "RUNNING"  # never overwritten
    assert counts[touched["id"]] == 3  # set up, the edit, the other person's change: the undo sent nothing

    entries = AuditEntry.objects.filter(bulk_job_id=reverted.pk, action="update")
    assert entries.count() == 7
    assert all(f"Undo of bulk edit {job.pk}" in entry.reason for entry in entries)  # each names the original


def test_a_slice_changed_after_the_undos_preview_ends_as_a_conflict_not_an_overwrite(
    kodexa, failed_slices, operator_user
):
    records, job = edited(kodexa, failed_slices, operator_user, n=4)
    reverted = undo(job, operator_user)
    # Changed on Kodexa after the undo was made, before it runs; the cache does not know yet.
    raced = kodexa.put(kodexa.get(ORCH, records[1]["id"]), status="CANCELLED")
    assert run_job(reverted.pk) == "finished"
    reverted.refresh_from_db()
    assert states(reverted) == {"succeeded": 3, "conflict": 1}
    assert reverted.items.get(state="conflict").slice_id == raced["id"]
    assert kodexa.get(ORCH, raced["id"])["status"] == "CANCELLED"


def test_an_undo_can_be_undone_and_each_edit_has_one_undo(kodexa, failed_slices, operator_user):
    records, job = edited(kodexa, failed_slices, operator_user, n=3)
    first = undo(job, operator_user)
    with pytest.raises(services.BulkEditError, match=f"already has an undo: bulk edit {first.pk}"):
        undo(job, operator_user)
    assert run_job(first.pk) == "finished"
    again = undo(BulkEditJob.objects.get(pk=first.pk), operator_user)
    assert run_job(again.pk) == "finished"
    for record in records:
        assert kodexa.get(ORCH, record["id"])["status"] == "PENDING"  # the edit, back in force
    counts = kodexa.stats()["putCounts"]
    assert all(counts[record["id"]] == 4 for record in records)  # set up, edit, undo, undo of the undo


def test_an_undo_needs_a_reason_an_ended_edit_and_the_typed_count_when_large(
    kodexa, failed_slices, operator_user, settings
):
    _records, job = edited(kodexa, failed_slices, operator_user, n=3)
    with pytest.raises(services.BulkEditError) as refused:
        services.request_undo(job, reason=" ", context=AuditContext(actor=operator_user))
    assert "reason" in refused.value.errors
    settings.BULK_CONFIRM_THRESHOLD = 2
    with pytest.raises(services.BulkEditError) as refused:
        undo(job, operator_user)
    assert refused.value.errors == {"confirmCount": "Type 3 (the number of slices that will change) to confirm."}
    running = job_for(failed_slices(2), operator_user)
    with pytest.raises(services.BulkEditError, match="once it has ended"):
        undo(running, operator_user)
    assert undo(job, operator_user, confirmed_count=3).items.count() == 3
    assert BulkEditJob.objects.filter(undo_of=job).count() == 1


def test_the_undo_page_previews_and_starts_it_and_the_job_pages_link_both_ways(
    kodexa, failed_slices, operator_user, client
):
    _records, job = edited(kodexa, failed_slices, operator_user, n=2)
    client.force_login(operator_user)
    page = client.get(f"/bulk/{job.pk}/")
    assert f"/bulk/{job.pk}/undo/" in page.content.decode()
    preview = client.get(f"/bulk/{job.pk}/undo/").content.decode()
    assert "will be put back" in preview and "Undo: put back 2 slices" in preview
    missing = client.post(f"/bulk/{job.pk}/undo/", {"reason": ""})
    assert "Say why" in missing.content.decode() and not BulkEditJob.objects.filter(undo_of=job).exists()
    started = client.post(f"/bulk/{job.pk}/undo/", {"reason": "undo it"})
    reverted = BulkEditJob.objects.get(undo_of=job)
    assert started.status_code == 302 and started["Location"] == f"/bulk/{reverted.pk}/"
    assert f'undo of <a href="/bulk/{job.pk}/">bulk edit {job.pk}</a>' in client.get(started["Location"]).text
    assert f"Undone by bulk edit {reverted.pk}" in client.get(f"/bulk/{job.pk}/").text
    # A second try points to the first.
    assert client.get(f"/bulk/{job.pk}/undo/")["Location"] == f"/bulk/{reverted.pk}/"


def test_api_undo_previews_creates_and_refuses_a_second(kodexa, failed_slices, operator_user, api):
    _records, job = edited(kodexa, failed_slices, operator_user, n=2)
    client = api("operator")
    url = f"/api/v1/bulk-edits/{job.pk}/undo"
    dry = client.post(url, {"reason": "check", "dryRun": True}, format="json")
    assert dry.status_code == 200
    assert dry.json() == {
        "toChange": 2,
        "leftAlone": 0,
        "changes": [{"now": "PENDING", "putBack": "FAILED", "slices": 2}],
        "leftAloneSample": [],
    }
    assert not BulkEditJob.objects.filter(undo_of=job).exists()
    made = client.post(url, {"reason": "wrong pipeline", "maxRate": 5}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["undoOf"], body["maxRate"], body["total"]) == (job.pk, 5.0, 2)
    second = client.post(url, {"reason": "again"}, format="json")
    assert second.status_code == 400
    assert second.json()["nonFieldErrors"] == [f"Bulk edit {job.pk} already has an undo: bulk edit {body['id']}."]


def test_the_failures_of_an_undo_are_retried_with_each_slices_own_status_and_guard(
    kodexa, failed_slices, operator_user, settings
):
    records, job = edited(kodexa, failed_slices, operator_user, n=3)
    reverted = undo(job, operator_user)
    settings.BULK_MAX_TRANSIENT_FAILURES, settings.BULK_OUTAGE_AFTER_FAILURES = 1, 100
    kodexa.set_faults(errorRate=1.0, methods=["PUT"])
    assert run_job(reverted.pk) == "finished"
    kodexa.clear_faults()
    reverted.refresh_from_db()
    assert states(reverted) == {"failed": 3}
    retry = services.follow_up(reverted, "retry", context=AuditContext(actor=operator_user))
    assert retry.target_status == "" and retry.retry_of == reverted
    guards = {i.slice_id: (i.target_status, i.expected_change_sequence) for i in retry.items.all()}
    assert guards == {i.slice_id: ("FAILED", i.result_change_sequence) for i in job.items.all()}
    assert run_job(retry.pk) == "finished"
    for number, record in enumerate(records):
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["errorMessage"]) == ("FAILED", f"boom {number}")
