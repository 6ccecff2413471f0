"""Writing the audit log. `record_attempt` is the one way an entry comes into being: slice changes from the pages,
the JSON API and bulk jobs, refreshes and syncs, and security events all pass through it."""

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Field
from django.http import HttpRequest
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

    actor: User | None = None
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    bulk_job_id: int | None = None
    reason: str = ""
    path: str = ""
    # Who acted when there is no user: "system", a command's name, or the username a failed sign-in claimed.
    actor_name: str = ""
    # The API token the request was made with, as `tokens.models.APIToken.credential` names it (None: a session).
    credential: str | None = None

    @classmethod
    def from_request(cls, request: HttpRequest, *, reason: str = "") -> "AuditContext":
        """The context of a page's or an API call's request. An API token's authentication names itself on the
        request (`request.credential`) once it has signed the user in, which reading `request.user` makes happen."""
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        return cls(
            actor=user if signed_in else None,
            actor_name="" if signed_in else "anonymous",
            request_id=getattr(request, "request_id", ""),
            ip_address=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", "")[:1000],
            reason=reason,
            # A view whose query string holds a credential (the provider's one-time code) names the path alone.
            path=f"{request.method} {getattr(request, 'audited_path', None) or request.get_full_path()}"[:500],
            credential=getattr(request, "credential", None) if signed_in else None,
        )

    @classmethod
    def system(cls, name: str = "system") -> "AuditContext":
        return cls(actor_name=name)

    def but(self, **changes: Any) -> "AuditContext":
        return replace(self, **changes)

    @property
    def actor_username(self) -> str:
        if self.actor is not None:
            return self.actor.get_username()
        return self.actor_name or "system"


def redact(value: Any) -> Any:
    """A copy of `value` with secrets blanked: values under secret-looking keys, and the Kodexa key anywhere (and
    cleaned for storing, see `_stored`)."""
    return _stored(value, settings.KODEXA_API_KEY)


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
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    return bool(_SECRET_KEY_NAME.search(name))


def _stored(value: Any, secret: str = "") -> Any:
    """`value` redacted (see `redact`) and as the database will hand it back, in one walk: JSON types only (tuples
    as lists, keys as text, anything else as its text), text cleaned, no NaN or Infinity, no negative zero."""
    if value is None or value is True or value is False or type(value) is int:
        return value
    if isinstance(value, str):
        if secret and secret in value:
            value = value.replace(secret, REDACTED)
        return _text(value)
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            name = _text(str(key))
            cleaned[name] = REDACTED if _secret_key(name) else _stored(item, secret)
        return cleaned
    if isinstance(value, list | tuple):
        return [_stored(item, secret) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # NaN and Infinity are not JSON: kept as text
        return value + 0.0  # no negative zero: PostgreSQL's numeric has none
    if isinstance(value, int):  # an int subclass
        return int(value)
    return _stored(str(value), secret)


@dataclass(slots=True)
class PreparedEntry:
    """An entry cleaned, redacted and mostly encoded for its hash, waiting for its place in the chain."""

    entry: AuditEntry
    fragments: dict[str, chain.Fragment]


def prepare_entry(
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
) -> PreparedEntry:
    """The work of an entry that needs no lock: cleaning, redaction, the diff, encoding for the hash."""
    cleaned: dict[int, Any] = {}  # the same object often arrives twice (Kodexa's answer is also the "after")
    secret = settings.KODEXA_API_KEY

    def clean(value: Any) -> Any:
        if id(value) not in cleaned:
            cleaned[id(value)] = _stored(value, secret)
        return cleaned[id(value)]

    before, after = clean(before), clean(after)
    entry = AuditEntry(
        actor=context.actor,
        actor_username=_text(context.actor_username)[:150],
        action=action,
        outcome=outcome,
        resource=resource,
        remote_id=_text(remote_id or "")[:255],
        request_body=clean(request_body),
        response_status=response_status,
        response_body=clean(response_body),
        error=clean(error),
        before=before,
        after=after,
        diff=field_diff(before, after) if after is not None else [],
        duration_ms=duration_ms,
        request_id=context.request_id,
        bulk_job_id=context.bulk_job_id,
        reason=clean(context.reason),
        ip_address=context.ip_address,
        user_agent=clean(context.user_agent)[:1000],
        path=clean(context.path)[:500],
        credential=None if context.credential is None else _text(context.credential)[:255],
        chain_version=chain.CURRENT_VERSION,
    )
    fields = _hashed_fields()
    encoded: dict[int, chain.Fragment] = {}
    fragments: dict[str, chain.Fragment] = {}
    for name in chain.CURRENT_FIELDS:
        if name in _PLACED_IN_CHAIN:
            continue
        value = getattr(entry, name)
        if id(value) not in encoded or not isinstance(value, dict | list):
            encoded[id(value)] = chain.Fragment(chain.fragment(chain.prepared(fields[name], value)))
        fragments[name] = encoded[id(value)]
    return PreparedEntry(entry, fragments)


_PLACED_IN_CHAIN = ("prev_hash", "occurred_at")  # known only once the chain's lock is held


@functools.cache
def _hashed_fields() -> dict[str, Field[Any, Any]]:
    return {f.attname: f for f in AuditEntry._meta.concrete_fields}


def append_entry(prepared: PreparedEntry) -> AuditEntry:
    """Link a prepared entry to the head of the chain and write it, with appenders serialised."""
    with transaction.atomic():
        chain.lock_for_append()
        entry = _linked(prepared, _head_hash() or chain.GENESIS)
        entry.save(force_insert=True)
    return entry


def append_entries(prepared: list[PreparedEntry]) -> list[AuditEntry]:
    """Link several prepared entries to the head of the chain, one after the other, and write them in one INSERT:
    what `append_entry` does for each, at the cost of one (a bulk edit's recorder writes its outcomes so). Every
    value but the three the chain places is encoded before the lock is taken, so appenders wait for each other
    only while the head is read, three values hashed per entry and the rows sent."""
    if not prepared:
        return []
    fields = _insert_fields()
    rows = [_insert_row(one.entry, fields) for one in prepared]
    with transaction.atomic():
        chain.lock_for_append()
        head, entries = _head_hash() or chain.GENESIS, []
        for one, row in zip(prepared, rows, strict=True):
            entry = _linked(one, head)
            entries.append(entry)
            head = entry.entry_hash
            for name in _CHAIN_COLUMNS:
                row[_position(name)] = fields[_position(name)].get_db_prep_save(getattr(entry, name), connection)
        ids = _insert(fields, rows)
    for entry, pk in zip(entries, ids, strict=True):
        entry.pk = pk
        entry._state.adding, entry._state.db = False, connection.alias
    return entries


_CHAIN_COLUMNS = ("prev_hash", "occurred_at", "entry_hash")  # placed and hashed under the chain's lock


@functools.cache
def _insert_fields() -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in AuditEntry._meta.concrete_fields if not f.primary_key)


@functools.cache
def _position(name: str) -> int:
    return next(n for n, f in enumerate(_insert_fields()) if f.attname == name)


def _insert_row(entry: AuditEntry, fields: tuple[Field[Any, Any], ...]) -> list[Any]:
    """An entry's column values as the database takes them; JSON already encoded (as text cast in the statement)."""
    row: list[Any] = []
    for field in fields:
        if field.attname in _CHAIN_COLUMNS:
            row.append(None)
            continue
        value = field.get_db_prep_save(getattr(entry, field.attname), connection)
        if field.get_internal_type() == "JSONField" and value is not None and not isinstance(value, str):
            value = value.dumps(value.obj)  # PostgreSQL's Jsonb wrapper: its text now, not under the lock
        row.append(value)
    return row


def _insert(fields: tuple[Field[Any, Any], ...], rows: list[list[Any]]) -> list[int]:
    """One multi-row INSERT; the new ids in the rows' order (ids grow in the order rows are inserted)."""
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    marks = ", ".join(f"%s{json_cast}" if f.get_internal_type() == "JSONField" else "%s" for f in fields)
    columns = ", ".join(connection.ops.quote_name(f.attname if f.column is None else f.column) for f in fields)
    table, pk = connection.ops.quote_name(AuditEntry._meta.db_table), "id"
    values = ", ".join([f"({marks})"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING {pk}",  # noqa: S608 (the model's own names)
            [value for row in rows for value in row],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _linked(prepared: PreparedEntry, prev_hash: str) -> AuditEntry:
    entry, fields = prepared.entry, _hashed_fields()
    entry.pk = None  # written afresh, even after a failed attempt at writing it
    entry.prev_hash = prev_hash
    entry.occurred_at = timezone.now()
    values = dict(prepared.fragments)
    for name in _PLACED_IN_CHAIN:
        values[name] = chain.Fragment(chain.fragment(chain.prepared(fields[name], getattr(entry, name))))
    entry.entry_hash = chain.entry_hash({**values, "chain_version": entry.chain_version})
    return entry


def _head_hash() -> str | None:
    """The newest entry's hash (a primary-key seek, written out: it runs for every entry written)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT entry_hash FROM {AuditEntry._meta.db_table} ORDER BY id DESC LIMIT 1")  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def record_attempt(context: AuditContext, **attempt: Any) -> AuditEntry:
    """Append one entry for one attempted change (or one security event), linked to the head of the chain.

    Call it inside the transaction that writes the cache, so both or neither are kept. (Takes the fields of
    `prepare_entry`.)"""
    return append_entry(prepare_entry(context, **attempt))
