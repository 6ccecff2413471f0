"""Notifications with real `db_worker` processes and a receiver process: a job a worker finishes is told after the
receiver's 500s and a timeout; a receiver down for the whole job never touches the job, and its delivery, given up,
shows on the job page; an outage is told while the same worker is still busy with the job it paused."""

import itertools
import json

import pytest
from django.urls import reverse

from slices_admin.bulk.models import BulkEditJob
from slices_admin.notifications.models import WebhookDelivery
from tests.bulk.jobs import assert_applied_once, job_for, states
from tests.conftest import start_sandbox, stop
from tests.factories import cache_orchestrator
from tests.notifications.conftest import CONSOLE, verified, worker_env
from tests.support import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


def finished(job: BulkEditJob) -> bool:
    return BulkEditJob.objects.get(pk=job.pk).state == "finished"


def test_a_job_a_worker_finishes_is_told_after_500s_and_a_timeout(
    kodexa, failed_slices, operator_user, webhook, start_worker
):
    receiver = webhook({"status": 500}, {"status": 503}, {"status": 200, "delay": 2.5}, {"status": 200})
    records = failed_slices(4)
    job = job_for(records, operator_user)
    start_worker(**{**worker_env(receiver), "BULK_WEBHOOK_MAX_TRIES": "4"})
    wait_for(lambda: WebhookDelivery.objects.filter(job=job, state="delivered").exists(), timeout=60)
    assert states(job) == {"succeeded": 4}
    delivery = WebhookDelivery.objects.get(job=job)
    assert (delivery.event, delivery.tries, delivery.last_error) == ("finished", 4, "")
    requests = receiver.requests()
    assert len(requests) == 4 and {r["body"] for r in requests} == {delivery.body}
    body = verified(requests[-1])
    assert body["event"] == "finished" and body["job"]["id"] == job.pk
    assert body["job"]["counts"]["succeeded"] == 4 and body["job"]["url"] == f"{CONSOLE}/bulk/{job.pk}/"
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(requests)]
    # The backoff doubles from 0.2 s; the third try waited out its 1 s timeout first.
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 1 + 0.8
    assert_applied_once(kodexa, records)


def test_a_receiver_down_for_the_whole_job_leaves_it_finished_and_its_delivery_failed_on_the_page(
    kodexa, failed_slices, operator_user, webhook, start_worker, viewer_client
):
    receiver = webhook()
    receiver.stop()  # nothing listens there: every try is refused
    records = failed_slices(6)
    job = job_for(records, operator_user)
    start_worker(**worker_env(receiver))
    wait_for(lambda: finished(job), timeout=60)
    assert states(job) == {"succeeded": 6}
    assert_applied_once(kodexa, records)
    wait_for(lambda: WebhookDelivery.objects.filter(job=job, state="failed").exists(), timeout=30)
    delivery = WebhookDelivery.objects.get(job=job)
    assert delivery.tries == 3 and delivery.last_error.endswith("connection refused.")
    page = viewer_client.get(reverse("bulk:detail", args=[job.pk])).content.decode()
    section = page[page.index('id="notifications"') : page.index("</section>", page.index('id="notifications"'))]
    assert "Finished" in section and "webhook-failed" in section and ">3<" in section
    assert "connection refused." in section and "receiver-path-secret" not in page


def test_an_outage_is_told_while_the_worker_is_still_busy_with_the_job(
    tmp_path, operator_user, webhook, start_worker, settings
):
    receiver = webhook()
    up = start_sandbox(tmp_path / "kodexa.sqlite3", "kx-outage-notify")
    port = up.url.rsplit(":", 1)[1]
    records = [up.new_orchestrator_slice(status="FAILED", pipelineExecutionId="pipe-notify") for _ in range(5)]
    cache_orchestrator(*records)
    job = job_for(records, operator_user)
    stop(up.process)  # Kodexa goes away: connections are refused
    outage = {"KODEXA_BASE_URL": up.url, "KODEXA_API_KEY": up.api_key, "BULK_OUTAGE_PROBE_SECONDS": "0.2"}
    start_worker(**worker_env(receiver), **outage, BULK_OUTAGE_PROBE_MAX_SECONDS="0.5")
    wait_for(lambda: receiver.requests(), timeout=60)
    [paused] = [verified(r) for r in receiver.requests()]
    assert paused["event"] == "paused" and "Kodexa is not answering" in paused["job"]["pauseReason"]
    assert BulkEditJob.objects.get(pk=job.pk).state == "running"  # its runner, in the same worker, still waits

    back = start_sandbox(tmp_path / "kodexa.sqlite3", "kx-outage-notify", "--port", port)
    try:
        wait_for(lambda: finished(job), timeout=60)
        wait_for(lambda: len(receiver.requests()) == 2, timeout=30)
    finally:
        stop(back.process)
    assert [json.loads(r["body"])["event"] for r in receiver.requests()] == ["paused", "finished"]
    assert states(job) == {"succeeded": 5}
