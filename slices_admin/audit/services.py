"""Writing the audit log. `record_attempt` is the one way an entry comes into being: slice changes from the pages,
the JSON API and bulk jobs, refreshes and syncs, and security events all pass through it."""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import chain
from .models import AuditEntry

REDACTED = "[redacted]"
# Names that end like a secret: apiKey, access_token, dbPassword, passwordHash, clientSecret, secretAccessKey,
# privateKey, pwd... but not maxTokens or tokenizer.
_SECRET_KEY_NAME = re.compile(
    r"(token|api[-_]?key|access[-_]?key|private[-_]?key|password\w*|passw(or)?d|pwd|secret\w*|authorization"
    r"|credentials?|cookie|session[-_]?id)$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting, from where, and why: everything an entry records besides the attempt itself."""

    actor: Any = None
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    bulk_job_id: int | None = None
    reason: str = ""
    path: str = ""
    # Who acted when there is no user: "system", a command's name, or the username a failed sign-in claimed.
    actor_name: str = ""

    @classmethod
    def from_request(cls, request, *, reason: str = "") -> "AuditContext":
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        return cls(
            actor=user if signed_in else None,
            actor_name="" if signed_in else "anonymous",
            request_id=getattr(request, "request_id", ""),
            ip_address=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", "")[:1000],
            reason=reason,
            path=f"{request.method} {request.get_full_path()}"[:500],
        )

    @classmethod
    def system(cls, name: str = "system") -> "AuditContext":
        return cls(actor_name=name)

    def but(self, **changes) -> "AuditContext":
        return replace(self, **changes)

    @property
    def actor_username(self) -> str:
        if self.actor is not None:
            return self.actor.get_username()
        return self.actor_name or "system"


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


def _text(value: str) -> str:
    """Text every database keeps as given: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8)."""
    value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping):
        return {_text(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # NaN and Infinity are not JSON: kept as text
        return value + 0.0  # no negative zero: PostgreSQL's numeric has none
    return value


def _stored(value: Any) -> Any:
    """A JSON value exactly as the database will hand it back (tuples as lists, keys as strings, text cleaned)."""
    return None if value is None else json.loads(json.dumps(_storable(value), default=str))


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
    """Append one entry for one attempted change (or one security event), linked to the head of the chain.

    Call it inside the transaction that writes the cache, so both or neither are kept."""
    before, after = _stored(redact(before)), _stored(redact(after))
    entry = AuditEntry(
        actor=context.actor,
        actor_username=_text(context.actor_username)[:150],
        action=action,
        outcome=outcome,
        resource=resource,
        remote_id=_text(remote_id or "")[:255],
        request_body=_stored(redact(request_body)),
        response_status=response_status,
        response_body=_stored(redact(response_body)),
        error=_text(redact(error)),
        before=before,
        after=after,
        diff=field_diff(before, after) if after is not None else [],
        duration_ms=duration_ms,
        request_id=context.request_id,
        bulk_job_id=context.bulk_job_id,
        reason=_text(redact(context.reason)),
        ip_address=context.ip_address,
        user_agent=_text(redact(context.user_agent))[:1000],
        path=_text(redact(context.path))[:500],
        chain_version=chain.CURRENT_VERSION,
    )
    with transaction.atomic():
        chain.lock_for_append()
        entry.prev_hash = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        entry.prev_hash = entry.prev_hash or chain.GENESIS
        entry.occurred_at = timezone.now()
        fields = {f.attname: f for f in AuditEntry._meta.concrete_fields}
        entry.entry_hash = chain.entry_hash(
            {name: chain.prepared(fields[name], getattr(entry, name)) for name in chain.HASHED_FIELDS}
        )
        entry.save(force_insert=True)
    return entry
