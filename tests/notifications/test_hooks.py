"""Where the bulk engine tells: a job that finishes (or fails, or is cancelled), pauses for a Kodexa outage or waits
for approval records its message once its transaction commits, and nothing that goes wrong with it touches the job.
Through the real engine against the sandbox; the job page lists what was sent."""

import json
import threading

import pytest
from django.urls import reverse

from slices_admin.audit.services import AuditContext
from slices_admin.bulk import services as bulk
from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.pauses import Pauses
from slices_admin.bulk.runner import bulk_client, run_job
from slices_admin.kodexa import errors
from slices_admin.notifications import payload
from slices_admin.notifications.models import WebhookDelivery
from slices_admin.notifications.tasks import deliver_webhook
from tests.bulk.jobs import job_for, states
from tests.notifications.conftest import CONSOLE, WEBHOOK_SECRET

# The runner's sending threads have database connections of their own: they see committed rows only.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def told(job: BulkEditJob) -> dict[str, dict]:
    """The messages recorded for the job, by event."""
    return {d.event: json.loads(d.body) for d in WebhookDelivery.objects.filter(job=job)}


def test_a_job_that_finishes_is_told_as_finished(kodexa, failed_slices, operator_user, webhook):
    webhook()
    job = job_for(failed_slices(3), operator_user)
    assert run_job(job.pk) == "finished"
    message = told(job)["finished"]
    assert message["job"]["state"] == "finished" and message["job"]["counts"]["succeeded"] == 3
    assert message["job"]["url"] == f"{CONSOLE}/bulk/{job.pk}/" and list(told(job)) == ["finished"]


def test_a_job_with_a_conflict_is_told_as_failed(kodexa, failed_slices, operator_user, webhook):
    webhook()
    records = failed_slices(3)
    job = job_for(records, operator_user)
    kodexa.put(records[0], status="RUNNING")  # someone else changed it since: a conflict
    run_job(job.pk)
    assert states(job) == {"succeeded": 2, "conflict": 1}
    assert list(told(job)) == ["failed"] and told(job)["failed"]["job"]["counts"]["conflict"] == 1


def test_a_cancelled_job_is_told_as_failed(kodexa, failed_slices, operator_user, webhook):
    webhook()
    job = job_for(failed_slices(3), operator_user)
    bulk.cancel_job(job, context=AuditContext(actor=operator_user))  # queued: closed here and now
    message = told(job)["failed"]
    assert message["job"]["state"] == "cancelled" and message["job"]["counts"]["cancelled"] == 3
    assert f"was cancelled by {operator_user.username}" in message["text"]


@pytest.mark.django_db  # inside the test's transaction: the callbacks run when the test says
def test_a_request_for_approval_is_told_once_it_is_committed(
    kodexa, failed_slices, operator_user, webhook, settings, django_capture_on_commit_callbacks
):
    webhook()
    settings.BULK_APPROVAL_THRESHOLD = 2
    records = failed_slices(3)
    with django_capture_on_commit_callbacks() as callbacks:
        job = job_for(records, operator_user)
        assert not WebhookDelivery.objects.exists()  # not before the job's transaction commits
    assert job.state == "awaiting_approval" and len(callbacks) >= 1
    for callback in callbacks:
        callback()
    message = told(job)["awaiting_approval"]
    assert message["job"]["requestedCount"] == 3 and "awaits approval" in message["text"]


def test_an_outage_is_told_once_per_job(kodexa, failed_slices, operator_user, webhook):
    webhook()
    job = job_for(failed_slices(1), operator_user)
    pauses = Pauses(job, bulk_client(1), threading.Event())
    down = errors.KodexaUnreachable(None, "connection refused")
    assert pauses.kodexa_failed(down)
    pauses._outage = False  # Kodexa came back, then went away again
    assert pauses.kodexa_failed(down)
    message = told(job)["paused"]
    assert message["job"]["pauseReason"].startswith("Kodexa is not answering (connection refused).")
    assert WebhookDelivery.objects.filter(job=job).count() == 1


def test_a_message_that_cannot_be_made_does_not_touch_the_job(
    kodexa, failed_slices, operator_user, webhook, monkeypatch, caplog
):
    webhook()

    def broken(*args, **kwargs):
        raise ValueError("a message that cannot be made")

    monkeypatch.setattr(payload, "build", broken)
    job = job_for(failed_slices(3), operator_user)
    assert run_job(job.pk) == "finished"
    assert states(job) == {"succeeded": 3} and not WebhookDelivery.objects.exists()
    assert "the end notification of bulk edit" in caplog.text and "could not be recorded" in caplog.text


def test_the_job_page_lists_its_notifications_without_the_secret_or_the_url(
    kodexa, failed_slices, operator_user, webhook, viewer_client
):
    receiver = webhook({"status": 503, "body": "<b>down</b> for maintenance"})
    job = job_for(failed_slices(2), operator_user)
    page = viewer_client.get(reverse("bulk:detail", args=[job.pk])).content.decode()
    assert 'id="notifications"' not in page  # nothing told yet
    run_job(job.pk)
    deliver_webhook.call(WebhookDelivery.objects.get(job=job).pk)
    page = viewer_client.get(reverse("bulk:detail", args=[job.pk])).content.decode()
    section = page[page.index('id="notifications"') :]
    section = section[: section.index("</section>")]
    assert "Finished" in section and "Waiting to be sent" in section
    assert "The receiver answered 503: &lt;b&gt;down&lt;/b&gt; for maintenance" in section
    assert "<b>down</b>" not in page and "up to 3 times" in section
    assert WEBHOOK_SECRET not in page and receiver.url not in page and "receiver-path-secret" not in page
