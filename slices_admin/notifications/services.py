"""What is done when the bulk engine signals something worth telling about a job (`receivers`), and the sweep's
part. Each call records the message once per job and event (a unique row) after the engine's transaction commits,
and queues its delivery. Nothing here raises into the engine: a failure is logged, and the sweep queues later what
could not be queued now."""

import functools
import logging
import uuid
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.progress import progress

from . import payload
from .models import WebhookDelivery
from .tasks import deliver_webhook, enqueue_delivery

logger = logging.getLogger(__name__)

Event = WebhookDelivery.Event
OVERDUE_AFTER = timedelta(seconds=30)  # a due delivery no worker took this long after its time is queued again


def job_ended(job_id: int) -> None:
    """The job finished or was cancelled: `finished`, or `failed` if it was cancelled or any item failed or met a
    conflict."""
    _after_commit(job_id, None)


def job_paused_by_outage(job_id: int, reason: str) -> None:
    """Kodexa stopped answering and the job pauses until it does (the first outage of a job only)."""
    _after_commit(job_id, Event.PAUSED, reason)


def job_awaits_approval(job_id: int) -> None:
    _after_commit(job_id, Event.AWAITING_APPROVAL)


def _after_commit(job_id: int, event: str | None, note: str = "") -> None:
    if not settings.BULK_WEBHOOK_URL:
        return
    try:
        transaction.on_commit(functools.partial(record, job_id, event, note), robust=True)
    except Exception:
        logger.exception("webhook: the notification of bulk edit %s could not be recorded", job_id)


def record(job_id: int, event: str | None, note: str = "") -> WebhookDelivery | None:
    """Record the job's message for the event (None: its end, as `job_ended` says) unless it already is, and queue
    its delivery. Returns the delivery (the earlier one if there is one); None if it could not be recorded."""
    try:
        delivery, created = _record(job_id, event, note)
    except Exception:
        logger.exception("webhook: the %s notification of bulk edit %s could not be recorded", event or "end", job_id)
        return None
    if delivery is not None and created:
        try:
            enqueue_delivery(delivery.pk)
        except Exception:
            logger.exception(
                "webhook: the %s notification of bulk edit %s could not be queued; a worker's sweep queues it shortly",
                delivery.event,
                job_id,
            )
    return delivery


def _record(job_id: int, event: str | None, note: str) -> tuple[WebhookDelivery | None, bool]:
    with transaction.atomic():
        job = BulkEditJob.objects.select_related("created_by", "cancelled_by").get(pk=job_id)
        counts = progress(job).counts
        if event is None:
            if job.state not in (BulkEditJob.State.FINISHED, BulkEditJob.State.CANCELLED):
                logger.warning("webhook: bulk edit %s is %s, not ended: nothing to tell", job_id, job.state)
                return None, False
            event = payload.ended_event(job, counts)
        earlier = WebhookDelivery.objects.filter(job=job, event=event).first()
        if earlier is not None:
            return earlier, False
        delivery_id, now = uuid.uuid4(), timezone.now()
        body = payload.build(job, event, counts, delivery_id=delivery_id, occurred_at=now, note=note)
        return WebhookDelivery.objects.get_or_create(
            job=job, event=event, defaults={"delivery_id": delivery_id, "body": body, "next_try_at": now}
        )


def resend_overdue(now: datetime | None = None) -> list[int]:
    """Queue again every delivery overdue by OVERDUE_AFTER that no worker is sending and no task waits for: its task
    could not be queued, or died with its worker (the sweep every worker runs)."""
    now = now or timezone.now()
    not_sending = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    overdue = WebhookDelivery.objects.filter(
        not_sending, state=WebhookDelivery.State.PENDING, next_try_at__lt=now - OVERDUE_AFTER
    )
    overdue_ids = list(overdue.values_list("pk", flat=True))
    if not overdue_ids:  # as on nearly every sweep: the task table is not read
        return []
    waiting = _deliveries_with_a_waiting_task()
    queued = [pk for pk in overdue_ids if pk not in waiting]
    for pk in queued:
        enqueue_delivery(pk)
    if queued:
        logger.warning("webhook: queued again the overdue deliveries %s", queued)
    return queued


def _deliveries_with_a_waiting_task() -> set[int]:
    """Deliveries whose task is queued and not yet taken by a worker (django-tasks-db's table, when in use)."""
    if not apps.is_installed("django_tasks_db"):
        return set()
    results = apps.get_model("django_tasks_database", "DBTaskResult").objects.ready()
    rows = results.filter(task_path=deliver_webhook.module_path).values_list("args_kwargs", flat=True)
    return {args["args"][0] for args in rows if args.get("args")}
