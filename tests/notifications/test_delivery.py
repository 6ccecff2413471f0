"""A message recorded once per job and event and delivered by its task to a receiver process: signed, tried again
after 5xx answers and timeouts with the same body, given up after its tries or at once on a 4xx; a task for a
delivery another worker sends, or that is not due, does nothing; what cannot be queued is queued by the sweep."""

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.notifications import services
from slices_admin.notifications.models import WebhookDelivery
from slices_admin.notifications.tasks import deliver_webhook
from tests.notifications.conftest import WEBHOOK_SECRET, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended_job(operator_user) -> BulkEditJob:
    job = BulkEditJob.objects.create(
        created_by=operator_user, selection={"ids": ["a", "b"]}, target_status="PENDING", reason="re-queue",
        concurrency=4, state="finished", finished_at=timezone.now(),
    )  # fmt: skip
    BulkEditItem.objects.create(job=job, slice_id="a", state="succeeded")
    BulkEditItem.objects.create(job=job, slice_id="b", state="failed")
    return job


def queued() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=deliver_webhook.module_path).order_by("enqueued_at"))


def deliver(delivery: WebhookDelivery, *, when_due: bool = True) -> WebhookDelivery:
    """Run the delivery's task, as a worker would once its time has come."""
    delivery.refresh_from_db()
    if when_due and delivery.next_try_at and (wait := (delivery.next_try_at - timezone.now()).total_seconds()) > 0:
        time.sleep(wait)
    deliver_webhook.call(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_the_end_of_a_job_is_recorded_queued_and_delivered_signed(webhook, ended_job):
    receiver = webhook({"status": 200})
    delivery = services.record(ended_job.pk, None)
    assert (delivery.event, delivery.state, delivery.tries) == ("failed", "pending", 0)  # an item failed
    [task] = queued()
    assert task.queue_name == "notifications" and task.args_kwargs["args"] == [delivery.pk]
    assert receiver.requests() == []  # nothing is sent until a worker runs the task

    delivery = deliver(delivery)
    assert (delivery.state, delivery.tries, delivery.last_status_code) == ("delivered", 1, 200)
    [request] = receiver.requests()
    body = verified(request)
    assert request["body"] == delivery.body  # byte for byte what was recorded
    assert body["event"] == "failed" and body["job"]["id"] == ended_job.pk
    assert body["job"]["counts"]["succeeded"] == body["job"]["counts"]["failed"] == 1
    assert request["headers"]["X-Slices-Delivery"] == str(delivery.delivery_id) == body["deliveryId"]


def test_500s_are_tried_again_with_a_growing_backoff_until_one_is_delivered(webhook, ended_job):
    receiver = webhook({"status": 500, "body": "oops"}, {"status": 502}, {"status": 200})
    delivery = services.record(ended_job.pk, None)
    delivery = deliver(delivery)
    assert (delivery.state, delivery.tries, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "The receiver answered 500: oops"
    # Measured from the start of the try: the backoff (0.2 s, then 0.4 s) plus the time the try took (< 0.5 s).
    assert 0.2 <= (delivery.next_try_at - delivery.last_try_at).total_seconds() < 0.2 + 0.5
    assert queued()[-1].run_after == delivery.next_try_at  # the next try waits in the queue, no worker sleeps

    delivery = deliver(delivery)
    assert (delivery.state, delivery.tries, delivery.last_status_code) == ("pending", 2, 502)
    assert 0.4 <= (delivery.next_try_at - delivery.last_try_at).total_seconds() < 0.4 + 0.5

    delivery = deliver(delivery)
    assert (delivery.state, delivery.tries, delivery.last_error) == ("delivered", 3, "")
    requests = receiver.requests()
    assert len(requests) == 3 and len(queued()) == 3
    assert {r["body"] for r in requests} == {delivery.body}
    assert {r["headers"]["X-Slices-Delivery"] for r in requests} == {str(delivery.delivery_id)}
    assert all(verified(r) for r in requests)  # each try signed afresh


def test_a_timeout_is_tried_again(webhook, ended_job):
    receiver = webhook({"status": 200, "delay": 2.5}, {"status": 200})
    delivery = deliver(services.record(ended_job.pk, None))
    assert (delivery.state, delivery.last_error) == ("pending", "No answer within 1 s (timed out).")
    delivery = deliver(delivery)
    assert (delivery.state, delivery.tries) == ("delivered", 2) and len(receiver.requests()) == 2


def test_a_receiver_down_is_given_up_after_the_last_try(webhook, ended_job, caplog):
    receiver = webhook()
    receiver.stop()
    delivery = services.record(ended_job.pk, None)
    with caplog.at_level(logging.INFO, logger="slices_admin.notifications"):
        for _ in range(3):
            delivery = deliver(delivery)
    assert (delivery.state, delivery.tries, delivery.next_try_at) == ("failed", 3, None)
    assert delivery.last_error.endswith(": connection refused.")
    assert len(queued()) == 3  # the first and two more tries: none after the last
    assert "given up after 3 tries" in caplog.text and "failed on try 2 of 3" in caplog.text
    assert "receiver-path-secret" not in caplog.text and WEBHOOK_SECRET not in caplog.text


def test_a_4xx_is_given_up_at_once(webhook, ended_job):
    webhook({"status": 404, "body": "no_service"})
    delivery = deliver(services.record(ended_job.pk, None))
    assert (delivery.state, delivery.tries, delivery.last_error) == (
        "failed", 1, "The receiver answered 404: no_service"
    )  # fmt: skip
    assert len(queued()) == 1


def test_a_delivery_being_sent_elsewhere_not_due_or_done_is_left_alone(webhook, ended_job):
    receiver = webhook()
    delivery = services.record(ended_job.pk, None)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() + timedelta(seconds=30))
    assert deliver_webhook.call(delivery.pk).startswith("nothing to do")
    later = timezone.now() + timedelta(seconds=30)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=None, next_try_at=later)
    assert deliver_webhook.call(delivery.pk).startswith("nothing to do")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="delivered", next_try_at=timezone.now())
    assert deliver_webhook.call(delivery.pk).startswith("nothing to do")
    assert receiver.requests() == []


def test_a_delivery_whose_worker_stopped_during_its_last_try_is_given_up(webhook, ended_job):
    receiver = webhook()
    delivery = services.record(ended_job.pk, None)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(tries=3, last_error="No answer within 1 s (timed out).")
    delivery = deliver(delivery)
    assert (delivery.state, delivery.tries, delivery.last_error) == (
        "failed", 3, "No answer within 1 s (timed out)."
    )  # fmt: skip
    assert receiver.requests() == []


@pytest.mark.django_db(transaction=True)
def test_an_event_recorded_twice_even_at_once_is_one_delivery(webhook, ended_job):
    receiver = webhook()
    recorded = []

    def hook():
        recorded.append(services.record(ended_job.pk, None))
        connection.close()

    threads = [threading.Thread(target=hook) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    services.job_ended(ended_job.pk)  # the hook, fired once more after commit
    assert len({d.pk for d in recorded}) == 1 and None not in recorded
    assert WebhookDelivery.objects.count() == 1 and len(queued()) == 1
    for task in queued():
        deliver_webhook.call(*task.args_kwargs["args"])
    assert len(receiver.requests()) == 1


def test_nothing_is_recorded_without_a_webhook(settings, ended_job, django_capture_on_commit_callbacks):
    settings.BULK_WEBHOOK_URL = ""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.job_ended(ended_job.pk)
    assert callbacks == [] and not WebhookDelivery.objects.exists()


def test_a_message_that_cannot_be_queued_is_logged_and_queued_by_the_sweep(webhook, ended_job, monkeypatch, caplog):
    webhook()

    def broken(*args, **kwargs):
        raise RuntimeError("the queue is unavailable")

    monkeypatch.setattr(services, "enqueue_delivery", broken)
    delivery = services.record(ended_job.pk, None)
    assert delivery is not None and queued() == []
    assert "could not be queued" in caplog.text
    monkeypatch.undo()
    assert services.resend_overdue() == []  # not overdue yet: a worker may still take it
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_try_at=timezone.now() - timedelta(minutes=1))
    assert services.resend_overdue() == [delivery.pk]
    assert services.resend_overdue() == []  # its task now waits for a worker
    assert len(queued()) == 1


def test_a_message_that_cannot_be_recorded_is_logged_not_raised(webhook, caplog):
    webhook()
    assert services.record(987654, None) is None
    assert "could not be recorded" in caplog.text
