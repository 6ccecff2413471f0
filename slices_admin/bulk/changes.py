"""What a bulk edit does to each slice (`Change`) and how many runners share a job (`runners_for`): rules that read
settings alone, used from the preview to the runner; no database, no Kodexa."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Change:
    """The status a bulk edit sets on each slice, the error message it sets (or leaves alone), and why."""

    target_status: str
    error_message: str | None = None  # None leaves errorMessage alone; "" clears it
    reason: str = ""

    def errors(self) -> dict[str, str]:
        found = {}
        if self.target_status not in settings.BULK_TARGET_STATUSES:
            found["targetStatus"] = f"Choose one of {', '.join(settings.BULK_TARGET_STATUSES)}."
        if not self.reason.strip():
            found["reason"] = "Say why: the reason goes into every audit entry of the job."
        elif len(self.reason) > 2000:
            found["reason"] = "Keep the reason under 2,000 characters."
        if self.error_message is not None and len(self.error_message) > 10000:
            found["errorMessage"] = "Keep the error message under 10,000 characters."
        return found

    def already_applied(self, status: str | None, error_message: str | None) -> bool:
        """Whether a slice already looks the way this change would make it (so it is skipped)."""
        if status != self.target_status:
            return False
        return self.error_message is None or (error_message or "") == self.error_message

    def applied_to(self, record: Mapping[str, Any]) -> dict[str, Any]:
        changed = {**record, "status": self.target_status}
        if self.error_message is not None:
            changed["errorMessage"] = self.error_message or None
        return changed


def runners_for(concurrency: int) -> int:
    """How many runners a job of this concurrency should have: BULK_RUNNERS_PER_JOB, but never more than one per
    request it may have in flight (each runner sends at least one at a time)."""
    return max(1, min(settings.BULK_RUNNERS_PER_JOB, concurrency))
