"""An entry's document: every field under its camelCase name, in a fixed order, values exactly as the entry holds
them (the moment to the microsecond in UTC); the API and both exports write it."""

from datetime import timedelta

import pytest

from slices_admin.audit.documents import as_document
from slices_admin.audit.services import AuditContext, record_attempt

pytestmark = pytest.mark.django_db


def test_a_document_holds_every_field_as_the_entry_does(make_user):
    before = {"id": "s-1", "status": "FAILED", "inputEvent": {"deep": [1, {"x": None}]}}
    context = AuditContext(
        actor=make_user("operator", "ann"),
        request_id="req-1",
        ip_address="10.0.0.7",
        user_agent="curl/8",
        bulk_job_id=7,
        reason="lease expired",
        path="PUT /api/v1/x",
        credential="API token 3 “cron” (slc_0123456789…)",
    )
    entry = record_attempt(
        context,
        action="update",
        outcome="succeeded",
        resource="orchestrator-execution-slices",
        remote_id="s-1",
        request_body={"status": "PENDING"},
        response_status=200,
        response_body=[1, "two", None],
        before=before,
        after={**before, "status": "PENDING"},
        duration_ms=12,
    )
    entry.refresh_from_db()
    assert entry.occurred_at.tzinfo is not None and entry.occurred_at.utcoffset() == timedelta(0)
    expected = {
        "id": entry.pk,
        "occurredAt": entry.occurred_at.isoformat(timespec="microseconds"),
        "actor": "ann",
        "actorId": entry.actor_id,
        "action": "update",
        "outcome": "succeeded",
        "resource": "orchestrator-execution-slices",
        "objectId": "s-1",
        "requestBody": {"status": "PENDING"},
        "responseStatus": 200,
        "responseBody": [1, "two", None],
        "error": "",
        "before": before,
        "after": {**before, "status": "PENDING"},
        "diff": [{"field": "status", "before": "FAILED", "after": "PENDING"}],
        "durationMs": 12,
        "requestId": "req-1",
        "bulkJobId": 7,
        "reason": "lease expired",
        "ipAddress": "10.0.0.7",
        "userAgent": "curl/8",
        "path": "PUT /api/v1/x",
        "credential": "API token 3 “cron” (slc_0123456789…)",
        "prevHash": entry.prev_hash,
        "entryHash": entry.entry_hash,
        "chainVersion": 2,
    }
    document = as_document(entry)
    assert list(document) == list(expected)  # the document's fields, in its order
    assert document == expected  # the JSON values as stored (PostgreSQL's jsonb keeps no key order inside them)
    assert expected["occurredAt"].endswith("+00:00")


def test_a_document_keeps_nulls_where_the_entry_has_none():
    entry = record_attempt(AuditContext(), action="create", outcome="failed", resource="execution-slices")
    document = as_document(entry)
    nulls = ("actorId", "requestBody", "responseStatus", "responseBody", "before", "after", "durationMs")
    assert all(document[name] is None for name in (*nulls, "bulkJobId", "ipAddress", "credential"))
    assert document["actor"] == "system" and document["diff"] == []
