"""Slice pages and forms, end to end against the sandbox process."""

import re

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice
from slices_admin.slices.sync import sync_slices

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def edit_post_data(record: dict, **changes) -> dict:
    from slices_admin.slices.forms import SliceRecordForm

    return {**SliceRecordForm.initial_from_record(record), **changes}


def test_pages_need_a_login(client, db):
    response = client.get(reverse("slices:list", args=["orchestrator"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_login_with_a_demo_user_lands_on_the_slices(client, make_user):
    user = make_user("viewer", "casey")
    user.set_password("correct-horse-battery")
    user.save()
    response = client.post(reverse("login"), {"username": "casey", "password": "correct-horse-battery"}, follow=True)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == reverse("slices:dashboard")


def test_list_shows_cached_slices_filtered(kodexa, as_role):
    sync_slices(ORCHESTRATOR_SLICE, page_size=200)
    failed = OrchestratorSlice.objects.filter(status="FAILED").count()
    response = as_role("viewer").get(reverse("slices:list", args=["orchestrator"]), {"status": "FAILED"})
    assert response.status_code == 200
    body = response.content.decode()
    assert f">{failed}</strong>" in body
    table = body[body.index('id="slice-table"') :]
    assert "status-failed" in table and "status-succeeded" not in table


def test_htmx_list_request_gets_only_the_table(kodexa, as_role):
    response = as_role("viewer").get(reverse("slices:list", args=["orchestrator"]), **HTMX)
    body = response.content.decode()
    assert "<table" in body and "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(kodexa, as_role):
    url = reverse("slices:list", args=["orchestrator"])
    response = as_role("viewer").get(url, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()


def test_kodexa_unreachable_on_save_says_so_and_changes_nothing(kodexa, as_role, settings):
    settings.KODEXA_BASE_URL = "http://127.0.0.1:9"
    settings.KODEXA_MAX_RETRIES = 0
    response = as_role("operator").post(reverse("slices:execution-create"), {"status": "PENDING"}, **HTMX)
    body = response.content.decode()
    assert "Could not reach Kodexa" in body and "127.0.0.1:9" in body
    assert AuditEntry.objects.slice_changes().get().outcome == "failed"
    assert not ExecutionSlice.objects.exists()


def test_every_page_sends_a_strict_csp_and_shows_the_kodexa_target_not_the_key(kodexa, as_role):
    response = as_role("operator").get(reverse("slices:execution-create"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    body = response.content.decode()
    assert "Sandbox" in body and kodexa.url.split("//")[1] in body
    assert kodexa.api_key not in body
    assert not re.search(r"<script>|\son[a-z]+=", body)  # no inline script or handler


def test_detail_page_shows_fields_payloads_and_history(kodexa, as_role, api):
    record = kodexa.new_orchestrator_slice(inputEvent={"documentFamilyId": "fam-42"}, errorMessage="<b>bad</b>")
    api("operator").patch(f"/api/v1/orchestrator-execution-slices/{record['id']}", {"status": "PENDING"},
                          format="json")  # fmt: skip
    response = as_role("viewer").get(reverse("slices:detail", args=["orchestrator", record["id"]]))
    body = response.content.decode()
    assert "fam-42" in body
    assert "&lt;b&gt;bad&lt;/b&gt;" in body and "<b>bad</b>" not in body
    assert "Change history" in body and "Patch" in body


def test_create_form_shows_field_errors_and_sends_nothing(kodexa, as_role):
    before = kodexa.request_count()
    response = as_role("operator").post(
        reverse("slices:execution-create"),
        {"sliceOrder": "twelve", "inputEvent": "{not json", "queuedAt": "2026-01-01 10:00"},
        **HTMX,
    )
    assert response.status_code == 400 and response["X-Console-Swap"] == "form"
    body = response.content.decode()
    assert "Must be a whole number." in body
    assert "Not valid JSON" in body
    assert "RFC 3339" in body
    assert kodexa.request_count() == before
    assert not ExecutionSlice.objects.exists() and not AuditEntry.objects.slice_changes().exists()


def test_nan_in_a_json_editor_is_a_field_error(kodexa, as_role):
    before = kodexa.request_count()
    response = as_role("operator").post(reverse("slices:execution-create"), {"inputEvent": '{"x": NaN}'}, **HTMX)
    assert response.context["form"].errors["inputEvent"]
    assert kodexa.request_count() == before and not AuditEntry.objects.slice_changes().exists()


def test_create_form_validate_only_request_sends_nothing(kodexa, as_role):
    before = kodexa.request_count()
    response = as_role("operator").post(
        reverse("slices:execution-create"), {"status": "PENDING", "_validate": "1"}, **HTMX
    )
    assert response.status_code == 200 and "<form" in response.content.decode()
    assert kodexa.request_count() == before


def test_create_form_success_redirects_to_the_new_slice(kodexa, as_role):
    response = as_role("operator").post(
        reverse("slices:execution-create"),
        {"status": "PENDING", "executionId": "exec-form", "stepsConfig": '{"steps": ["parse"]}'},
        **HTMX,
    )
    row = ExecutionSlice.objects.get(execution_id="exec-form")
    assert response["HX-Redirect"] == reverse("slices:detail", args=["execution", row.id])
    assert row.steps_config == {"steps": ["parse"]}
    assert AuditEntry.objects.slice_changes().get().actor_username.startswith("operator")


def test_kodexa_rejection_is_shown_on_the_form_field(kodexa, as_role):
    response = as_role("operator").post(reverse("slices:execution-create"), {"sliceOrder": "-5"}, **HTMX)
    body = response.content.decode()
    assert "Kodexa rejected the values" in body
    assert response.context["form"].errors["sliceOrder"]  # Kodexa's message, under the field it names
    assert re.search(r'id="id_sliceOrder_error">[^<]*\S', body)
    assert AuditEntry.objects.slice_changes().get().outcome == "rejected"


def test_edit_form_is_filled_from_kodexas_freshest_copy(kodexa, as_role):
    record = kodexa.new_orchestrator_slice()
    kodexa.put(record, errorMessage="changed elsewhere")
    response = as_role("operator").get(reverse("slices:orchestrator-edit", args=[record["id"]]))
    assert response.status_code == 200
    assert "changed elsewhere" in response.content.decode()


def test_edit_form_saves_the_whole_record(kodexa, as_role):
    record = kodexa.new_orchestrator_slice()
    data = edit_post_data(record, status="SUCCEEDED", errorMessage="")
    response = as_role("operator").post(reverse("slices:orchestrator-edit", args=[record["id"]]), data, **HTMX)
    assert response["HX-Redirect"] == reverse("slices:detail", args=["orchestrator", record["id"]])
    now = kodexa.get("orchestrator-execution-slices", record["id"])
    assert (now["status"], now["errorMessage"]) == ("SUCCEEDED", None)
    assert kodexa.put_count(record["id"]) == 1


def test_edit_conflict_shows_both_versions_and_saving_again_applies_on_top(kodexa, as_role):
    record = kodexa.new_orchestrator_slice()
    client = as_role("operator")
    url = reverse("slices:orchestrator-edit", args=[record["id"]])
    kodexa.put(record, status="RUNNING")  # someone else, after the form was loaded
    response = client.post(url, edit_post_data(record, status="CANCELLED"), **HTMX)
    body = response.content.decode()
    assert "Someone else changed this slice" in body
    assert "CANCELLED" in body and "RUNNING" in body
    assert kodexa.get("orchestrator-execution-slices", record["id"])["status"] == "RUNNING"
    resubmitted = response.context["form"].data
    assert resubmitted["changeSequence"] == str(record["changeSequence"] + 1)
    response = client.post(url, resubmitted, **HTMX)
    assert "HX-Redirect" in response
    assert kodexa.get("orchestrator-execution-slices", record["id"])["status"] == "CANCELLED"
    outcomes = list(AuditEntry.objects.slice_changes().filter(remote_id=record["id"]).values_list("outcome", flat=True))
    assert sorted(outcomes) == ["conflict", "succeeded"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_an_edit_post_with_a_tampered_id_is_a_field_error_and_sends_nothing(kodexa, as_role, headers):
    record, other = kodexa.new_orchestrator_slice(), kodexa.new_orchestrator_slice()
    before = kodexa.request_count()
    data = edit_post_data(record, status="CANCELLED")
    data["id"] = other["id"]
    response = as_role("operator").post(reverse("slices:orchestrator-edit", args=[record["id"]]), data, **headers)
    assert response.status_code == 400
    assert "an id cannot change" in str(response.context["form"].errors["id"])
    assert kodexa.request_count() == before
    assert not AuditEntry.objects.slice_changes().exists()
    if headers:
        assert response["X-Console-Swap"] == "form"  # the page swaps the form in with its error


def test_a_viewer_cannot_open_or_post_the_forms(kodexa, as_role):
    record = kodexa.new_orchestrator_slice()
    client = as_role("viewer")
    before = kodexa.request_count()
    assert client.get(reverse("slices:execution-create")).status_code == 403
    assert client.post(reverse("slices:execution-create"), {"status": "PENDING"}).status_code == 403
    edit = reverse("slices:orchestrator-edit", args=[record["id"]])
    assert client.post(edit, edit_post_data(record)).status_code == 403
    assert kodexa.request_count() == before
    detail = client.get(reverse("slices:detail", args=["orchestrator", record["id"]])).content.decode()
    assert edit not in detail


def test_htmx_posts_without_a_csrf_token_are_refused(kodexa, make_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("operator"))
    response = client.post(reverse("slices:execution-create"), {"status": "PENDING"}, **HTMX)
    assert response.status_code == 403


def test_audit_pages_list_and_show_an_entry(kodexa, as_role, api):
    record = kodexa.new_orchestrator_slice()
    api("operator").patch(f"/api/v1/orchestrator-execution-slices/{record['id']}", {"status": "PENDING"},
                          format="json")  # fmt: skip
    client = as_role("viewer")
    listing = client.get(reverse("audit:list"), {"objectId": record["id"]}).content.decode()
    entry = AuditEntry.objects.slice_changes().get()
    assert reverse("audit:detail", args=[entry.pk]) in listing
    detail = client.get(reverse("audit:detail", args=[entry.pk])).content.decode()
    assert "status" in detail and "PENDING" in detail and "FAILED" in detail
