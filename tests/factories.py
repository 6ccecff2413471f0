"""Small factories: wire records as Kodexa would answer them, cached the way the services cache them, audit
entries as the one writer writes them, and personal API tokens as the tokens page issues them."""

import datetime as dt
import itertools
import uuid

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.kodexa.schemas import format_datetime
from slices_admin.slices.cache import cache_records
from slices_admin.tokens.services import issue_token

_counter = itertools.count()
BASE_TIME = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> str:
    return format_datetime(BASE_TIME + dt.timedelta(minutes=minutes))


def orchestrator_record(**fields) -> dict:
    n = next(_counter) % 1000  # times stay within a day of BASE_TIME however many records a session makes
    record = {
        "id": str(uuid.uuid4()),
        "uuid": str(uuid.uuid4()),
        "status": "SUCCEEDED",
        "organizationId": "org-a",
        "pipelineExecutionId": "pipe-1",
        "moduleRuntimeId": "runtime-x",
        "attemptNumber": 1,
        "changeSequence": 1,
        "sliceOrder": n,
        "stepStartOrder": 0,
        "stepEndOrder": 1,
        "durationMs": 1000,
        "errorMessage": None,
        "errorDetails": {},
        "inputEvent": {},
        "outputEvent": {},
        "stepsConfig": {},
        "lambdaRequestId": None,
        "queuedAt": at(n),
        "leasedAt": at(n + 1),
        "leaseExpiresAt": at(n + 16),
        "startedAt": at(n + 1),
        "completedAt": at(n + 2),
        "createdAt": at(n),
        "createdOn": at(n),
        "updatedOn": at(n + 2),
    }
    record.update(fields)
    assert set(record) >= set(ORCHESTRATOR_SLICE.wire_names)
    return record


def execution_record(**fields) -> dict:
    record = orchestrator_record()
    for name in ("pipelineExecutionId", "moduleRuntimeId", "stepStartOrder", "stepEndOrder", "createdAt"):
        del record[name]
    record.update(executionId="exec-1", moduleRuntimeRef="runtime-x", logGroup=None, logStream=None)
    record.update(fields)
    assert set(record) == set(EXECUTION_SLICE.wire_names)
    return record


def cache_orchestrator(*records: dict) -> list[dict]:
    cache_records(ORCHESTRATOR_SLICE, records)
    return list(records)


def audit_entry(
    actor="ann", action="update", outcome="succeeded", resource=ORCHESTRATOR_SLICE.path, remote_id="s-1", **fields
) -> AuditEntry:
    """An entry as `record_attempt` writes it, from a script's PUT unless told otherwise."""
    context = AuditContext(
        actor_name=actor,
        request_id=fields.pop("request_id", "req-" + remote_id),
        bulk_job_id=fields.pop("bulk_job_id", None),
        reason=fields.pop("reason", ""),
        ip_address="10.0.0.7",
        user_agent="curl/8",
        path=f"PUT /api/v1/{resource}/{remote_id}",
    )
    return record_attempt(context, action=action, outcome=outcome, resource=resource, remote_id=remote_id, **fields)


def api_token(user, name: str = "tests", days: int = 30) -> str:
    """The text of a new personal API token of `user` (issued, stored hashed and audited as the page does it)."""
    return issue_token(user, name=name, days=days, context=AuditContext.system("tests"))[1]
