"""The message a webhook receives: a Slack-compatible one-line `text` with the job's link, and the same facts as
structured JSON (event, job id, state, counts by outcome, target status, reason, requester, the job's URL). Built once,
when the event happens, and sent byte for byte on every try. Pure."""

import json
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse

from slices_admin.bulk.models import BulkEditItem, BulkEditJob

from .models import WebhookDelivery

Event = WebhookDelivery.Event
REASON_IN_TEXT = 120  # characters of the reason the one-line text quotes (the structured body has all of it)
_OUTCOMES = (
    (BulkEditItem.State.SUCCEEDED, "succeeded", "succeeded"),
    (BulkEditItem.State.FAILED, "failed", "failed"),
    (BulkEditItem.State.CONFLICT, "conflict", "conflicts"),
    (BulkEditItem.State.SKIPPED, "skipped", "skipped"),
    (BulkEditItem.State.CANCELLED, "cancelled", "cancelled"),
    (BulkEditItem.State.PENDING, "not sent", "not sent"),
)


def ended_event(job: BulkEditJob, counts: dict[str, int]) -> str:
    """How an ended job is reported: `failed` when it was cancelled or any item failed or met a conflict."""
    if job.state == BulkEditJob.State.CANCELLED or counts.get("failed") or counts.get("conflict"):
        return Event.FAILED
    return Event.FINISHED


def job_url(job_id: int) -> str:
    return settings.CONSOLE_BASE_URL + reverse("bulk:detail", args=[job_id])


def build(
    job: BulkEditJob,
    event: str,
    counts: dict[str, int],
    *,
    delivery_id: uuid.UUID,
    occurred_at: datetime,
    note: str = "",
) -> str:
    """The JSON text of the message: `counts` are the job's items by state, `note` why it paused."""
    url = job_url(job.pk)
    body = {
        "text": summary(job, event, counts, url, note),
        "event": event,
        "deliveryId": str(delivery_id),
        "occurredAt": _iso(occurred_at),
        "job": {
            "id": job.pk,
            "url": url,
            "state": job.state,
            "targetStatus": job.target_status or None,  # None: an undo, each slice back to its own earlier status
            "reason": job.reason,
            "requestedBy": _name(job.created_by),
            "requestedCount": job.requested_count,
            "total": sum(counts.values()),
            "counts": counts,
            "undoOf": job.undo_of_id,
            "retryOf": job.retry_of_id,
            "pauseReason": note or None,
            "cancelledBy": _name(job.cancelled_by),
            "startedAt": _iso(job.started_at),
            "finishedAt": _iso(job.finished_at),
            "approvalExpiresAt": _iso(job.approval_expires_at),
        },
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def summary(job: BulkEditJob, event: str, counts: dict[str, int], url: str, note: str = "") -> str:
    """One line for people (Slack's `text`): what happened, to what, who asked and why, and the link."""
    what = f"Bulk edit {job.pk}"
    outcomes = ", ".join(
        f"{counts[state]:,} {many if counts[state] != 1 else one}"
        for state, one, many in _OUTCOMES
        if counts.get(state)
    )
    if event == Event.AWAITING_APPROVAL:
        head = f"{what} awaits approval: {job.requested_count or 0:,} slices to change"
    elif event == Event.PAUSED:
        head = f"{what} is paused: {note or 'Kodexa is not answering.'}"
    elif job.state == BulkEditJob.State.CANCELLED:
        by = f" by {_name(job.cancelled_by)}" if job.cancelled_by else ""
        head = f"{what} was cancelled{by}: {outcomes or 'nothing sent'}"
    elif event == Event.FAILED:
        head = f"{what} finished with failures: {outcomes}"
    else:
        head = f"{what} finished: {outcomes or 'nothing to change'}"
    change = f"status → {job.target_status}" if job.target_status else "earlier statuses put back"
    reason = " ".join(job.reason.split())
    if len(reason) > REASON_IN_TEXT:
        reason = reason[: REASON_IN_TEXT - 1] + "…"
    asked = f"asked by {_name(job.created_by)}" if job.created_by else "asked by the console"
    line = " ".join(f"{head.rstrip('.')}. ({change}; {asked}; reason: {reason})".split())
    action = "Review it" if event == Event.AWAITING_APPROVAL else f"Open bulk edit {job.pk}"
    return f"{slack_escape(line)} <{url}|{action}>"


def slack_escape(text: str) -> str:
    """Slack reads `<…>` as links and mentions and `&` as an entity: the three are escaped in any text we quote."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _name(user: Any) -> str | None:
    return str(user.get_username()) if user is not None else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
