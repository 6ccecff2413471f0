"""A second pair of eyes for big edits: above BULK_APPROVAL_THRESHOLD a job waits, sending nothing, until another
operator or admin approves it with the count it changes now, or it is rejected, withdrawn or expires. Through the
services, the pages and the API alike; every step audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services
from slices_admin.bulk.approval import SELF_APPROVAL, expire_requests
from slices_admin.bulk.models import BulkEditJob
from tests.bulk.jobs import job_for
from tests.factories import cache_orchestrator

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick")]


@pytest.fixture(autouse=True)
def threshold(settings):
    settings.BULK_APPROVAL_THRESHOLD = 3
    settings.BULK_APPROVAL_EXPIRES_HOURS = 2


@pytest.fixture
def second_operator(make_user):
    return make_user("operator", "second-pair-of-eyes")


def actions(job) -> list[str]:
    return list(AuditEntry.objects.filter(bulk_job_id=job.pk).order_by("id").values_list("action", flat=True))


def test_a_big_edit_waits_for_approval_and_sends_nothing(kodexa, failed_slices, operator_user):
    records = failed_slices(5)
    sent = kodexa.request_count()
    job = job_for(records, operator_user)
    assert job.state == "awaiting_approval" and job.requested_count == 5
    assert not job.items.exists() and job.approval_expires_at > timezone.now() + timedelta(hours=1)
    assert actions(job) == ["bulk_approval_requested"]
    assert kodexa.request_count() == sent
    small = job_for(failed_slices(3), operator_user)  # not more than the threshold
    assert small.state == "queued" and small.items.count() == 3


def test_another_operator_approves_with_the_count_it_changes_now(kodexa, failed_slices, operator_user, second_operator):
    records = failed_slices(5)
    job = job_for(records, operator_user)
    # One more slice joins the selection after the request: the approver sees and types the count of now.
    cache_orchestrator(kodexa.new_orchestrator_slice(pipelineExecutionId=records[0]["pipelineExecutionId"]))
    context = AuditContext(actor=second_operator)
    with pytest.raises(services.BulkEditError) as refused:
        services.approve(job, typed_count=5, context=context)
    assert refused.value.errors == {
        "confirmCount": "Type 6 (the slices it changes now; 5 when it was asked for) to approve it."
    }
    approved = services.approve(job, typed_count=6, context=context)
    assert (approved.state, approved.approved_by, approved.approved_count) == ("queued", second_operator, 6)
    assert approved.items.count() == 6
    assert actions(job) == ["bulk_approval_requested", "bulk_approve", "bulk_start"]
    entry = AuditEntry.objects.get(bulk_job_id=job.pk, action="bulk_approve")
    assert entry.actor_username == second_operator.username
    assert (entry.request_body["requested"], entry.request_body["now"]) == (5, 6)


def test_the_requester_may_withdraw_but_never_approve(kodexa, failed_slices, operator_user, second_operator):
    job = job_for(failed_slices(4), operator_user)
    mine = AuditContext(actor=operator_user)
    with pytest.raises(services.BulkEditError, match="another operator or admin approves it"):
        services.approve(job, typed_count=4, context=mine)
    with pytest.raises(services.BulkEditError, match="Only the person who asked"):
        services.withdraw(job, context=AuditContext(actor=second_operator))
    withdrawn = services.withdraw(job, context=mine)
    assert withdrawn.state == "withdrawn" and not withdrawn.items.exists()
    with pytest.raises(services.BulkEditError, match="no longer awaits approval"):
        services.approve(job, typed_count=4, context=AuditContext(actor=second_operator))
    assert actions(job) == ["bulk_approval_requested", "bulk_withdraw"]


def test_a_rejection_needs_a_reason_and_keeps_it(kodexa, failed_slices, operator_user, second_operator):
    job = job_for(failed_slices(4), operator_user)
    context = AuditContext(actor=second_operator)
    with pytest.raises(services.BulkEditError) as refused:
        services.reject(job, reason="  ", context=context)
    assert "reason" in refused.value.errors
    rejected = services.reject(job, reason="Not during the month-end run", context=context)
    assert (rejected.state, rejected.closed_note, rejected.closed_by) == (
        "rejected",
        "Not during the month-end run",
        second_operator,
    )
    assert AuditEntry.objects.get(bulk_job_id=job.pk, action="bulk_reject").reason == "Not during the month-end run"


def test_an_unanswered_request_expires(kodexa, failed_slices, operator_user, second_operator):
    job = job_for(failed_slices(4), operator_user)
    assert expire_requests() == []
    BulkEditJob.objects.filter(pk=job.pk).update(approval_expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_requests() == [job.pk]
    job.refresh_from_db()
    assert job.state == "expired" and job.closed_note == "Nobody approved it in time."
    entry = AuditEntry.objects.get(bulk_job_id=job.pk, action="bulk_expire")
    assert entry.actor_username == "approval expiry"
    with pytest.raises(services.BulkEditError, match="no longer awaits approval"):
        services.approve(job, typed_count=4, context=AuditContext(actor=second_operator))


def test_pages_show_the_request_to_others_and_refuse_self_approval(
    kodexa, failed_slices, operator_user, second_operator, client
):
    job = job_for(failed_slices(4), operator_user)
    client.force_login(second_operator)
    home = client.get("/bulk/").text
    assert "1 awaiting approval" in home and "Awaiting approval (1)" in home
    page = client.get(f"/bulk/{job.pk}/").text
    assert "Now it changes 4 slices" in page and "as asked for" in page and 'id="approve-count"' in page

    client.force_login(operator_user)
    own = client.get(f"/bulk/{job.pk}/").text
    assert "awaiting approval</a>" not in own  # the header counts others' requests only
    assert 'id="approve-count"' not in own and "Withdraw the request" in own
    refused = client.post(f"/bulk/{job.pk}/approve/", {"confirm_count": "4"}, follow=True)
    assert SELF_APPROVAL in refused.text
    assert BulkEditJob.objects.get(pk=job.pk).state == "awaiting_approval"

    client.force_login(second_operator)
    approved = client.post(f"/bulk/{job.pk}/approve/", {"confirm_count": "4"}, follow=True)
    assert f"Bulk edit {job.pk} approved: 4 slices." in approved.text
    assert BulkEditJob.objects.get(pk=job.pk).state == "queued"


def test_api_approval_refuses_the_requester_and_takes_another_operators_count(
    kodexa, failed_slices, operator_user, second_operator, api
):
    from rest_framework.test import APIClient

    from tests.factories import api_token

    job = job_for(failed_slices(4), operator_user)
    own = APIClient()
    own.credentials(HTTP_AUTHORIZATION=f"Token {api_token(operator_user)}")
    url = f"/api/v1/bulk-edits/{job.pk}/approve"
    refused = own.post(url, {"confirmCount": 4}, format="json")
    assert refused.status_code == 403 and refused.json()["detail"] == SELF_APPROVAL
    other = api("admin")
    wrong = other.post(url, {"confirmCount": 3}, format="json")
    assert wrong.status_code == 400 and "Type 4" in wrong.json()["confirmCount"][0]
    done = other.post(url, {"confirmCount": 4}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "queued" and done.json()["approvedCount"] == 4
    rejected = other.post(f"/api/v1/bulk-edits/{job.pk}/reject", {"reason": "late"}, format="json")
    assert rejected.status_code == 400 and "no longer awaits approval" in rejected.json()["nonFieldErrors"][0]
