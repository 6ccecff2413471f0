"""A try at delivering one message, in a worker: claim it (so no other worker sends it at the same time), POST it,
and record what came of it: delivered, failed for good, or due again after a backoff. Logged without the URL's path
or the secret."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from . import sending
from .models import WebhookDelivery

logger = logging.getLogger(__name__)

CLOCK_SLACK = timedelta(seconds=1)  # a task may start a moment before the time it was queued for


@dataclass(frozen=True)
class Tried:
    """What a try came to: a summary, and when to try again (None: never)."""

    summary: str
    retry_at: datetime | None = None


def attempt(delivery_id: int) -> Tried:
    """One try of the delivery, if it is due and no other worker is sending it."""
    now = timezone.now()
    lease = now + timedelta(seconds=2 * settings.BULK_WEBHOOK_TIMEOUT + 10)  # longer than any one try takes
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = WebhookDelivery.objects.filter(
        free, pk=delivery_id, state=WebhookDelivery.State.PENDING, next_try_at__lte=now + CLOCK_SLACK
    ).update(claimed_until=lease, tries=F("tries") + 1, last_try_at=now)
    if not claimed:
        return Tried("nothing to do: delivered, given up, not due yet or being sent by another worker")
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    url, limit = settings.BULK_WEBHOOK_URL, settings.BULK_WEBHOOK_MAX_TRIES
    if not url:
        sent = sending.Sent(False, error="BULK_WEBHOOK_URL is no longer set: nowhere to send it.")
    elif delivery.tries > limit:  # its worker stopped during its last try
        delivery.tries = limit
        sent = sending.Sent(False, error=delivery.last_error or "Its worker stopped during its last try.")
    else:
        sent = sending.post(
            url,
            settings.BULK_WEBHOOK_SECRET,
            delivery.body,
            event=delivery.event,
            delivery_id=str(delivery.delivery_id),
        )
    return _record(delivery, sent, sending.host_of(url), limit)


def _record(delivery: WebhookDelivery, sent: sending.Sent, host: str, limit: int) -> Tried:
    what = f"webhook: the {delivery.event} notification of bulk edit {delivery.job_id} to {host}"
    now = timezone.now()
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, state=WebhookDelivery.State.PENDING)
    if sent.delivered:
        mine.update(
            state=WebhookDelivery.State.DELIVERED,
            delivered_at=now,
            last_status_code=sent.status_code,
            last_error="",
            next_try_at=None,
            claimed_until=None,
        )
        logger.info("%s was delivered on try %d (%s)", what, delivery.tries, sent.status_code)
        return Tried(f"delivered on try {delivery.tries}")
    if sent.retryable and delivery.tries < limit:
        wait = sending.backoff(delivery.tries, sent.retry_after)
        retry_at = now + timedelta(seconds=wait)
        mine.update(last_status_code=sent.status_code, last_error=sent.error, next_try_at=retry_at, claimed_until=None)
        logger.warning(
            "%s failed on try %d of %d: %s Next try in %.1f s.", what, delivery.tries, limit, sent.error, wait
        )
        return Tried(f"try {delivery.tries} failed; the next is due in {wait:.1f} s", retry_at)
    mine.update(
        state=WebhookDelivery.State.FAILED,
        tries=delivery.tries,
        last_status_code=sent.status_code,
        last_error=sent.error,
        next_try_at=None,
        claimed_until=None,
    )
    tries = f"{delivery.tries} tr{'y' if delivery.tries == 1 else 'ies'}"
    logger.error("%s was given up after %s: %s", what, tries, sent.error)
    return Tried(f"given up after {tries}")
