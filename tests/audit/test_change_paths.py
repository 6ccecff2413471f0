"""Every path that changes slices or the cache writes through the one audit writer: refresh and sync included,
and secrets in payloads never reach an entry."""

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import OrchestratorSlice, SyncRun
from slices_admin.slices.sync import perform_sync
from tests.factories import cache_orchestrator

pytestmark = pytest.mark.django_db

ORCH = "/api/v1/orchestrator-execution-slices"


def test_a_refresh_is_audited_with_what_changed_upstream(kodexa, as_role):
    record = kodexa.new_orchestrator_slice(status="FAILED")
    cache_orchestrator(record)
    kodexa.put(record, status="PENDING")  # another Kodexa client changes it
    client = as_role("viewer")
    client.post(reverse("slices:refresh", args=["orchestrator", record["id"]]))
    entry = AuditEntry.objects.get(action="refresh")
    assert (entry.outcome, entry.remote_id, entry.response_status) == ("succeeded", record["id"], 200)
    assert {"field": "status", "before": "FAILED", "after": "PENDING"} in entry.diff
    assert entry.request_body is None and entry.actor_username.startswith("viewer")


def test_a_refresh_of_a_slice_kodexa_no_longer_has_is_audited_and_flags_it(kodexa, as_role):
    [record] = cache_orchestrator({**kodexa.new_orchestrator_slice(), "id": "00000000-0000-4000-8000-000000000000"})
    as_role("viewer").post(reverse("slices:refresh", args=["orchestrator", record["id"]]))
    entry = AuditEntry.objects.get(action="refresh")
    assert (entry.outcome, entry.response_status) == ("rejected", 404)
    assert OrchestratorSlice.objects.get(id=record["id"]).gone_at is not None


def test_a_sync_run_is_one_audit_entry_with_its_figures(kodexa, make_user):
    user = make_user("operator")
    run = perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, requested_by=user), page_size=100)
    entry = AuditEntry.objects.get(action="sync")
    assert (entry.outcome, entry.actor_username, entry.resource) == (
        "succeeded",
        user.username,
        ORCHESTRATOR_SLICE.path,
    )
    assert entry.response_body["records"] == run.records > 0
    assert entry.request_body["syncRun"] == run.pk


def test_a_failed_sync_is_audited_as_failed(kodexa, settings):
    settings.KODEXA_BASE_URL = "http://127.0.0.1:9"
    settings.KODEXA_MAX_RETRIES = 0
    perform_sync(SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path))
    entry = AuditEntry.objects.get(action="sync")
    assert (entry.outcome, entry.actor_username) == ("failed", "sync")
    assert "Could not reach Kodexa" in entry.error


def test_secret_looking_keys_in_a_payload_are_redacted_in_the_entry_not_on_kodexa(kodexa, api):
    record = kodexa.new_orchestrator_slice()
    secret = {"callback": {"url": "https://hooks.example", "authToken": "tok-123", "password": "pw-456"}}
    response = api("operator").patch(f"{ORCH}/{record['id']}", {"inputEvent": secret}, format="json")
    assert response.status_code == 200
    entry = AuditEntry.objects.slice_changes().get()
    sent = entry.request_body["inputEvent"]["callback"]
    assert sent == {"url": "https://hooks.example", "authToken": "[redacted]", "password": "[redacted]"}
    assert "tok-123" not in str([entry.after, entry.response_body, entry.diff, entry.before])
    assert kodexa.get("orchestrator-execution-slices", record["id"])["inputEvent"] == secret  # Kodexa got it all
