"""Bulk jobs over sandbox records for the runner's tests: made, counted by state, and checked applied exactly once."""

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk.changes import Change
from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.services import Selection, create_job
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE

ORCH = ORCHESTRATOR_SLICE.path


def job_for(records, operator_user, target="PENDING", **change) -> BulkEditJob:
    pipeline = records[0]["pipelineExecutionId"]
    selection = Selection.from_filter({"pipelineExecutionId": pipeline})
    return create_job(
        selection,
        Change(target, reason="re-queue after the outage", **change),
        context=AuditContext(actor=operator_user),
        confirmed_count=len(records),
    )


def states(job) -> dict[str, int]:
    counts = {}
    for state in job.items.values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def assert_applied_once(kodexa, records, target="PENDING"):
    stats = kodexa.call("GET", "/_sandbox/stats").json()["putCounts"]
    for record in records:
        now = kodexa.get(ORCH, record["id"])
        assert (now["status"], now["changeSequence"]) == (target, record["changeSequence"] + 1), record["id"]
        assert stats.get(record["id"]) == 1


def assert_each_attempt_audited_once(job):
    for item in job.items.all():
        entries = AuditEntry.objects.filter(bulk_job_id=job.pk, remote_id=item.slice_id, action="update")
        assert entries.count() == item.attempts, item
        assert all(e.reason == job.reason for e in entries)
