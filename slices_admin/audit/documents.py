"""An audit entry as a document: one declaration that the JSON API answers with and documents in its schema, and
that the JSON Lines and CSV exports write. The audit app owns it; `api` imports it, never the other way."""

from datetime import datetime
from functools import cached_property
from typing import Any, cast

from rest_framework import serializers

from .models import AuditEntry


class InstantField(serializers.DateTimeField):
    """The moment as the entry holds it (UTC, `+00:00`), to the microsecond, whatever zone the request runs in."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat(timespec="microseconds")


class AuditEntrySerializer(serializers.Serializer[AuditEntry]):
    """An entry with every field, the chain's hashes included (the same document as the JSON Lines export)."""

    id = serializers.IntegerField()
    occurredAt = InstantField(source="occurred_at")
    actor = serializers.CharField(
        source="actor_username", help_text="The username at the time (kept when the account is deleted)."
    )
    actorId = serializers.IntegerField(source="actor_id", allow_null=True)
    action = serializers.ChoiceField(choices=AuditEntry.Action.choices)
    outcome = serializers.ChoiceField(choices=AuditEntry.Outcome.choices)
    resource = serializers.CharField(help_text="`execution-slices`, `orchestrator-execution-slices` or `account`.")
    objectId = serializers.CharField(
        source="remote_id", help_text="The slice id (or the username, for account events); may be empty."
    )
    requestBody = serializers.JSONField(
        source="request_body", allow_null=True, help_text="The body sent to Kodexa, secrets redacted."
    )
    responseStatus = serializers.IntegerField(
        source="response_status", allow_null=True, help_text="Kodexa's status code; null: no answer."
    )
    responseBody = serializers.JSONField(source="response_body", allow_null=True)
    error = serializers.CharField()
    before = serializers.DictField(allow_null=True, help_text="The record before the change, when known.")
    after = serializers.DictField(allow_null=True, help_text="The record after the change, when it was applied.")
    diff = serializers.ListField(child=serializers.DictField(), allow_null=True, help_text="Changed fields.")
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    requestId = serializers.CharField(source="request_id")
    bulkJobId = serializers.IntegerField(source="bulk_job_id", allow_null=True)
    reason = serializers.CharField()
    ipAddress = serializers.CharField(source="ip_address", allow_null=True)
    userAgent = serializers.CharField(source="user_agent")
    path = serializers.CharField()
    credential = serializers.CharField(
        allow_null=True,
        help_text="The API token the request was made with (its id, name and public key id); null for a browser "
        "session, a command, a worker, and every entry of chain version 1.",
    )
    prevHash = serializers.CharField(source="prev_hash")
    entryHash = serializers.CharField(source="entry_hash")
    chainVersion = serializers.IntegerField(
        source="chain_version", help_text="The rule the hash follows: 2 covers `credential`, 1 does not."
    )

    def to_representation(self, instance: AuditEntry) -> dict[str, Any]:
        """The declared fields, in order, read from their sources: what DRF's general loop gives, since every column
        but the moment already holds its JSON value, without that loop's per-field work and copies of every JSON
        object (an export writes a million documents)."""
        document = {}
        for name, source, formatted in self._reading_plan:
            value = getattr(instance, source)
            document[name] = formatted.to_representation(value) if formatted and value is not None else value
        return document

    @cached_property
    def _reading_plan(self) -> list[tuple[str, str, InstantField | None]]:
        # Bound fields: `bind` has set field_name and source, which DRF's stubs allow to be None before it.
        return [
            (cast(str, f.field_name), cast(str, f.source), f if isinstance(f, InstantField) else None)
            for f in self._readable_fields
        ]


_DOCUMENT = AuditEntrySerializer()


def as_document(entry: AuditEntry) -> dict[str, Any]:
    """One entry's document (one serializer serves every entry of an export)."""
    return _DOCUMENT.to_representation(entry)
