"""Bulk edit services against the sandbox's records: the preview, creating a job (confirmation, refusals) and
follow-ups."""

import pytest

from slices_admin.audit.services import AuditContext
from slices_admin.bulk.changes import Change
from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.runner import run_job
from slices_admin.bulk.services import BulkEditError, Selection, create_job, follow_up, preview
from tests.bulk.jobs import job_for
from tests.factories import cache_orchestrator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def test_the_preview_sends_nothing_and_writes_nothing(kodexa, failed_slices, operator_user):
    records = failed_slices(5)
    before = kodexa.request_count()
    selection = Selection.from_filter({"pipelineExecutionId": records[0]["pipelineExecutionId"]})
    seen = preview(selection, Change("PENDING", reason="x"))
    assert (seen.total, seen.to_change, seen.to_skip) == (5, 5, 0)
    assert seen.before_statuses == {"FAILED": 5} and len(seen.sample) == 5
    assert kodexa.request_count() == before and not BulkEditJob.objects.exists()


def test_a_large_edit_needs_the_count_typed_and_a_grown_selection_is_caught(
    kodexa, failed_slices, operator_user, settings
):
    settings.BULK_CONFIRM_THRESHOLD = 3
    records = failed_slices(4)
    selection = Selection.from_filter({"pipelineExecutionId": records[0]["pipelineExecutionId"]})
    change = Change("PENDING", reason="fix")
    with pytest.raises(BulkEditError, match="Type 4"):
        create_job(selection, change, context=AuditContext(actor=operator_user))
    cache_orchestrator(
        kodexa.new_orchestrator_slice(status="FAILED", pipelineExecutionId=records[0]["pipelineExecutionId"])
    )
    with pytest.raises(BulkEditError, match="now changes 5 slices, not 4"):
        create_job(selection, change, context=AuditContext(actor=operator_user), confirmed_count=4)
    assert not BulkEditJob.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [(Change("PENDING", reason=" "), "reason"), (Change("EXPLODED", reason="x"), "targetStatus")],
)
def test_an_invalid_edit_is_refused_field_by_field(kodexa, failed_slices, operator_user, change, field):
    records = failed_slices(1)
    with pytest.raises(BulkEditError) as refused:
        create_job(Selection.from_ids([records[0]["id"]]), change, context=AuditContext(actor=operator_user))
    assert field in refused.value.errors and not BulkEditJob.objects.exists()


def test_asking_for_the_same_follow_up_twice_is_refused(kodexa, failed_slices, operator_user):
    records = failed_slices(2)
    job = job_for(records, operator_user)
    kodexa.set_faults(failNext=[{"status": 400, "count": 2, "method": "PUT"}])
    run_job(job.pk)
    follow_up(job, "retry", context=AuditContext(actor=operator_user))
    with pytest.raises(BulkEditError, match="already doing this"):
        follow_up(job, "retry", context=AuditContext(actor=operator_user))
