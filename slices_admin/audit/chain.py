"""Tamper evidence for the audit log: every entry's hash covers its content and the previous entry's hash.

Entries are chained in insertion (id) order. Writers are serialised while they read the chain's head and append,
so the chain never forks: PostgreSQL takes a transaction-scoped advisory lock; SQLite's `BEGIN IMMEDIATE` (the
project's transaction mode) already holds the database's single write lock from the start of the transaction.

Editing an entry behind the triggers' back breaks its own hash; removing one breaks its successor's link. Removing
the newest entries leaves a shorter valid chain: a signed checkpoint of the head kept elsewhere (`audit.checkpoint`,
`manage.py audit_checkpoint`) is what `verify_audit --checkpoint` finds that with.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field

GENESIS = "0" * 64
# Everything a version-1 entry says, frozen: a later field goes into a new version (with its own list and rule,
# picked by each entry's `chain_version`), so entries written before it still verify.
HASHED_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_username",
    "action",
    "outcome",
    "resource",
    "remote_id",
    "request_body",
    "response_status",
    "response_body",
    "error",
    "before",
    "after",
    "diff",
    "duration_ms",
    "request_id",
    "bulk_job_id",
    "reason",
    "ip_address",
    "user_agent",
    "path",
    "prev_hash",
    "chain_version",
)
# Version 2 adds `credential` (the API token a request used). Each version's list holds the earlier ones', so the
# newest list is every hashed column and reading it serves every version. A test checks nothing is left out.
HASHED_FIELDS_V2 = (*HASHED_FIELDS, "credential")
VERSION_FIELDS = {1: HASHED_FIELDS, 2: HASHED_FIELDS_V2}
CURRENT_VERSION = 2
CURRENT_FIELDS = VERSION_FIELDS[CURRENT_VERSION]
_LOCK_KEY = 0x5C1CE5A0D17  # any constant: the one advisory lock that serialises audit writers on PostgreSQL


def lock_for_append() -> None:
    """Serialise appenders until the surrounding transaction ends. Call inside `transaction.atomic()`."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


_EXACT_INT = 2**53
_LARGEST_FLOAT = 1e308


def _plain(value: Any) -> Any:
    """JSON-ready and stable across databases: PostgreSQL's jsonb gives a float like 1e300 back as an integer, so
    integers beyond a float's exact range are compared as floats (or as text, beyond any float)."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_INT:
        return float(value) if abs(value) < _LARGEST_FLOAT else str(value)
    return value


_SORTED_FIELDS = {version: tuple(sorted(names)) for version, names in VERSION_FIELDS.items()}


def fragment(value: Any) -> str:
    """One field's value in the canonical form: compact, sorted, ASCII-only JSON."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def canonical(values: Mapping[str, Any], version: int) -> bytes:
    """The bytes a hash of `version` is taken over: its hashed fields as one sorted, compact, ASCII-only JSON object
    (built from per-field fragments, so a writer can encode the big fields before it takes the chain's lock)."""
    return canonical_from(
        {
            name: values[name] if isinstance(values[name], Fragment) else fragment(values[name])
            for name in VERSION_FIELDS[version]
        },
        version,
    )


class Fragment(str):
    """A field already encoded by `fragment`."""


def canonical_from(fragments: Mapping[str, str], version: int) -> bytes:
    return ("{" + ",".join(f'"{name}":{fragments[name]}' for name in _SORTED_FIELDS[version]) + "}").encode()


def _hash_v1(values: Mapping[str, Any]) -> str:
    if values.get("credential") is not None:
        return ""  # no version-1 entry was written with one: it was added afterwards
    return hashlib.sha256(b"v1\n" + canonical(values, 1)).hexdigest()


def _hash_v2(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(b"v2\n" + canonical(values, 2)).hexdigest()


RULES = {1: _hash_v1, 2: _hash_v2}


def entry_hash(values: Mapping[str, Any]) -> str:
    """The hash of an entry by the rule of its own `chain_version`."""
    rule = RULES.get(values.get("chain_version") or 0)
    if rule is None:
        return ""  # a version this code does not know: reported as not matching
    return rule(values)


@dataclass(frozen=True, slots=True)
class Break:
    """The first place the chain does not hold."""

    entry_id: int
    problem: str


@dataclass(slots=True)
class Verification:
    checked: int = 0
    head_id: int | None = None
    head_hash: str = GENESIS
    broken: Break | None = None


def verify(entries: Iterable[Mapping[str, Any]]) -> Verification:
    """Walk entries in id order (mappings of `id`, `entry_hash` and the hashed fields) and stop at the first
    entry whose content no longer matches its hash or whose link does not point at the entry before it."""
    result = Verification()
    for values in entries:
        if values["prev_hash"] != result.head_hash:
            before = f"entry {result.head_id}" if result.head_id is not None else "the start of the log"
            result.broken = Break(
                values["id"],
                f"does not follow {before}: an entry between them was removed, or the earlier one was altered",
            )
            return result
        if entry_hash(values) != values["entry_hash"]:
            result.broken = Break(values["id"], "its content does not match its hash: it was changed after writing")
            return result
        result.checked += 1
        result.head_id, result.head_hash = values["id"], values["entry_hash"]
    return result


def stored_entries(chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every entry in chain order, as the database holds it, normalised the way the writer hashed it."""
    from .models import AuditEntry  # here, not at the top: migration 0003 imports this module for its hashing

    fields = {f.attname: f for f in AuditEntry._meta.concrete_fields}
    names = ["id", "entry_hash", *CURRENT_FIELDS]
    for values in AuditEntry.objects.order_by("id").values(*names).iterator(chunk_size=chunk_size):
        yield {name: prepared(fields[name], value) if name in fields else value for name, value in values.items()}


def prepared(field: Field[Any, Any], value: Any) -> Any:
    """A value as the database will give it back (e.g. IPv6 addresses normalised), so writer and verifier agree."""
    if value is None or field.get_internal_type() == "JSONField":
        return value
    return field.get_prep_value(value)
