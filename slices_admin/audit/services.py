"""Writing the audit log. `record_attempt` is the one way an entry comes into being."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .models import AuditEntry

REDACTED = "[redacted]"
# Names that end like a secret: apiKey, access_token, dbPassword, clientSecret... but not maxTokens or tokenizer.
_SECRET_KEY_NAME = re.compile(r"(token|api[-_]?key|password|passwd|secret|authorization|credentials?)$", re.I)


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting, from where, and why: everything an entry records besides the attempt itself."""

    actor: Any = None
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    bulk_job_id: int | None = None
    reason: str = ""

    @classmethod
    def from_request(cls, request, *, reason: str = "") -> "AuditContext":
        user = request.user if request.user and request.user.is_authenticated else None
        return cls(
            actor=user,
            request_id=getattr(request, "request_id", ""),
            ip_address=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", "")[:1000],
            reason=reason,
        )

    @property
    def actor_username(self) -> str:
        return self.actor.get_username() if self.actor is not None else "system"


def redact(value: Any) -> Any:
    """A copy of `value` with secrets blanked: values under secret-looking keys, and the Kodexa key anywhere."""
    key = settings.KODEXA_API_KEY
    if isinstance(value, Mapping):
        return {k: REDACTED if _SECRET_KEY_NAME.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and key and key in value:
        return value.replace(key, REDACTED)
    return value


def field_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Field-level changes between two wire records: `[{"field", "before", "after"}]` in field order."""
    before, after = before or {}, after or {}
    fields = sorted(set(before) | set(after))
    return [
        {"field": name, "before": before.get(name), "after": after.get(name)}
        for name in fields
        if before.get(name) != after.get(name)
    ]


def record_attempt(
    context: AuditContext,
    *,
    action: str,
    outcome: str,
    resource: str,
    remote_id: str = "",
    request_body: Any = None,
    response_status: int | None = None,
    response_body: Any = None,
    error: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    duration_ms: int | None = None,
) -> AuditEntry:
    """Append one entry for one attempted change. Call it inside the transaction that writes the cache."""
    before, after = redact(before), redact(after)
    return AuditEntry.objects.create(
        actor=context.actor,
        actor_username=context.actor_username,
        action=action,
        outcome=outcome,
        resource=resource,
        remote_id=remote_id or "",
        request_body=redact(request_body),
        response_status=response_status,
        response_body=redact(response_body),
        error=redact(error),
        before=before,
        after=after,
        diff=field_diff(before, after) if after is not None else [],
        duration_ms=duration_ms,
        request_id=context.request_id,
        bulk_job_id=context.bulk_job_id,
        reason=context.reason,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
    )
