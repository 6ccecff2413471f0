"""The background task that delivers a webhook message (queue "notifications", which every `db_worker` works in a
thread of its own), and its queueing: now, or at the time of the next try."""

import logging
from datetime import datetime

from django.tasks import task

from .delivery import attempt

logger = logging.getLogger(__name__)

QUEUE = "notifications"


@task(queue_name=QUEUE)
def deliver_webhook(delivery_id: int) -> str:
    tried = attempt(delivery_id)
    if tried.retry_at is not None:
        try:
            enqueue_delivery(delivery_id, tried.retry_at)
        except Exception:  # the sweep queues it again once it is overdue
            logger.exception("webhook: the next try of delivery %s could not be queued", delivery_id)
    return tried.summary


def enqueue_delivery(delivery_id: int, at: datetime | None = None) -> None:
    (deliver_webhook.using(run_after=at) if at is not None else deliver_webhook).enqueue(delivery_id)
