"""Signed checkpoints of the audit chain's head, for an operator to keep away from the database.

The chain proves every entry up to its head, but not that the head is the last entry ever written: removing the
newest entries leaves a shorter chain that still verifies. A checkpoint names the head at one moment (its id, its
hash and how many entries led to it), signed with AUDIT_CHECKPOINT_KEY (HMAC-SHA256 over the fields in the chain's
canonical JSON). Later, the entry it names must still be there with that hash; entries written since are fine. As
the hash covers every entry before it (each links to its predecessor), that one entry vouches for all of them.

Someone who can write to the database but does not hold the key can neither forge a checkpoint nor rewrite the log
to match one. The key never leaves the settings: a checkpoint carries only a fingerprint of it (`key_id`).
"""

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import chain
from .models import AuditEntry

FORMAT = "slices-console audit checkpoint 1"
MIN_KEY_LENGTH = 32
_SIGNATURE_PREFIX = "hmac-sha256:"


class CheckpointError(Exception):
    """Why a checkpoint cannot be taken, read or trusted, or what it found: in words for the operator."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The head of the chain when the checkpoint was taken; every field is signed."""

    taken_at: str
    entry_id: int
    entry_hash: str
    entry_occurred_at: str
    chain_version: int  # the rule the head's hash follows (`chain.RULES`)
    entries: int  # how many entries the chain held, the head included
    key_id: str
    format: str = FORMAT

    def describe(self) -> str:
        return f"the checkpoint taken at {self.taken_at} (entry {self.entry_id}, {self.entries} entries)"


def signing_key() -> bytes:
    """AUDIT_CHECKPOINT_KEY, refused when missing or too short to resist guessing (its value is never shown)."""
    key = settings.AUDIT_CHECKPOINT_KEY
    advice = (
        f"a random value of {MIN_KEY_LENGTH} characters or more, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, kept apart from the database and its backups"
    )
    if not key:
        raise CheckpointError(f"AUDIT_CHECKPOINT_KEY is not set: checkpoints are signed with it. Set it to {advice}.")
    if len(key) < MIN_KEY_LENGTH:
        raise CheckpointError(f"AUDIT_CHECKPOINT_KEY is too short ({len(key)} characters): use {advice}.")
    return key.encode()


def key_id(key: bytes) -> str:
    """A fingerprint that tells keys apart and gives nothing of the key away."""
    return hmac.new(key, b"audit checkpoint key id", hashlib.sha256).hexdigest()[:16]


def _signature(key: bytes, fields: dict[str, Any]) -> str:
    mac = hmac.new(key, chain.fragment(fields).encode(), hashlib.sha256)
    return _SIGNATURE_PREFIX + mac.hexdigest()


def take(now: datetime | None = None) -> Checkpoint:
    """The head of the chain, after walking all of it: a checkpoint never vouches for a broken chain."""
    key = signing_key()
    walked = chain.verify(chain.stored_entries())
    if walked.broken:
        raise CheckpointError(
            f"The audit chain is broken at entry {walked.broken.entry_id}: {walked.broken.problem}. "
            "No checkpoint taken: run `manage.py verify_audit` and find out what happened first."
        )
    if walked.head_id is None:
        raise CheckpointError("The audit log is empty: there is no head to take a checkpoint of yet.")
    head = AuditEntry.objects.values("occurred_at", "chain_version").get(pk=walked.head_id)
    return Checkpoint(
        taken_at=(now or timezone.now()).isoformat(timespec="seconds"),
        entry_id=walked.head_id,
        entry_hash=walked.head_hash,
        entry_occurred_at=head["occurred_at"].isoformat(timespec="microseconds"),
        chain_version=head["chain_version"],
        entries=walked.checked,
        key_id=key_id(key),
    )


def dumps(checkpoint: Checkpoint) -> str:
    """The checkpoint as the file an operator keeps: JSON, its fields and their signature."""
    fields = asdict(checkpoint)
    return json.dumps({**fields, "signature": _signature(signing_key(), fields)}, indent=2) + "\n"


def loads(text: str) -> Checkpoint:
    """A checkpoint read back, refused unless its signature under this console's key matches its fields."""
    key = signing_key()
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CheckpointError(f"This is not an audit checkpoint: it is not JSON ({error}).") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f'This is not an audit checkpoint: its "format" is not "{FORMAT}".')
    signature = document.pop("signature", None)
    names = set(Checkpoint.__dataclass_fields__)
    if set(document) != names or not isinstance(signature, str):
        missing, extra = sorted(names - set(document)), sorted(set(document) - names)
        raise CheckpointError(
            f"The checkpoint's fields were changed (missing: {', '.join(missing) or 'none'}; "
            f"unknown: {', '.join(extra) or 'none'}; signature: {'present' if signature else 'missing'})."
        )
    if not hmac.compare_digest(signature.encode(), _signature(key, document).encode()):
        if document["key_id"] != key_id(key):
            raise CheckpointError(
                f"The checkpoint's signature does not match: it names key {document['key_id']}, and "
                f"AUDIT_CHECKPOINT_KEY is key {key_id(key)}. It was signed with another key, or forged."
            )
        raise CheckpointError(
            "The checkpoint's signature does not match its content: it was edited after it was signed, or forged."
        )
    return Checkpoint(**document)


def compare(checkpoint: Checkpoint, walked: chain.Verification) -> str:
    """After a walk found the chain intact: the entry the checkpoint names must still be there with its hash."""
    if walked.broken:
        raise ValueError("compare a checkpoint with an intact chain only")
    stored = AuditEntry.objects.filter(pk=checkpoint.entry_id).values_list("entry_hash", flat=True).first()
    if stored is None:
        if walked.head_id is None or walked.head_id < checkpoint.entry_id:
            now = "is empty" if walked.head_id is None else f"ends at entry {walked.head_id} ({walked.checked} entries)"
            raise CheckpointError(
                f"Entries were removed from the end of the audit log: it {now}, but {checkpoint.describe()} "
                "names a later head."
            )
        raise CheckpointError(
            f"Entry {checkpoint.entry_id}, the head of {checkpoint.describe()}, is not in the audit log, which now "
            f"ends at entry {walked.head_id}: entries were removed and others written after them."
        )
    if stored != checkpoint.entry_hash:
        raise CheckpointError(
            f"Entry {checkpoint.entry_id} has hash {stored}, but {checkpoint.describe()} says "
            f"{checkpoint.entry_hash}: the log up to it was rewritten since."
        )
    return (
        f"Checkpoint taken at {checkpoint.taken_at} holds: entry {checkpoint.entry_id} still has hash "
        f"{checkpoint.entry_hash}; {walked.checked - checkpoint.entries} entries were written after it."
    )
