"""The bulk engine's events (Django signals), answered with webhook messages (connected when the app is ready)."""

from typing import Any

from django.dispatch import receiver

from slices_admin.bulk import events

from . import services


@receiver(events.job_ended, dispatch_uid="notifications.job_ended")
def job_ended(sender: object, *, job_id: int, **kwargs: Any) -> None:
    services.job_ended(job_id)


@receiver(events.job_paused_by_outage, dispatch_uid="notifications.job_paused_by_outage")
def job_paused_by_outage(sender: object, *, job_id: int, reason: str, **kwargs: Any) -> None:
    services.job_paused_by_outage(job_id, reason)


@receiver(events.job_awaits_approval, dispatch_uid="notifications.job_awaits_approval")
def job_awaits_approval(sender: object, *, job_id: int, **kwargs: Any) -> None:
    services.job_awaits_approval(job_id)
