"""Serializers of the JSON API: strict request fields (JSON types are never coerced, so a typo or a wrong type is a
field error, not a silent default) and the documents the API answers with."""

from rest_framework import serializers

from slices_admin.audit.export import as_document
from slices_admin.audit.models import AuditEntry


# --- strict request fields ------------------------------------------------------------------------------------------
class StrictCharField(serializers.CharField):
    """A JSON string: a number is not turned into one, and NUL characters (which PostgreSQL cannot store) are
    refused."""

    default_error_messages = {"invalid": "Must be a string.", "nul": "Must not contain NUL characters."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            self.fail("nul")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON `true` or `false`, nothing that merely looks like one ("yes", 1)."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, not a string of digits or a float."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClosedSerializer(serializers.Serializer):
    """Keys it does not declare are field errors (a misspelt `dryRun` must not create a job); the schema says
    `additionalProperties: false`."""

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return values


# --- answers --------------------------------------------------------------------------------------------------------
class CachedRecordSerializer(serializers.BaseSerializer):
    """A cached slice as Kodexa last answered it (its raw JSON, fields outside the contract included)."""

    def to_representation(self, instance):
        return instance.raw


class AuditEntrySerializer(serializers.Serializer):
    """An entry with every field, the chain's hashes included (the same document as the JSON Lines export).
    The fields are declared for the schema; the document itself comes from `as_document`."""

    id = serializers.IntegerField()
    occurredAt = serializers.DateTimeField()
    actor = serializers.CharField(help_text="The username at the time (kept when the account is deleted).")
    actorId = serializers.IntegerField(allow_null=True)
    action = serializers.ChoiceField(choices=AuditEntry.Action.choices)
    outcome = serializers.ChoiceField(choices=AuditEntry.Outcome.choices)
    resource = serializers.CharField(help_text="`execution-slices`, `orchestrator-execution-slices` or `account`.")
    objectId = serializers.CharField(help_text="The slice id (or the username, for account events); may be empty.")
    requestBody = serializers.JSONField(allow_null=True, help_text="The body sent to Kodexa, secrets redacted.")
    responseStatus = serializers.IntegerField(allow_null=True, help_text="Kodexa's status code; null: no answer.")
    responseBody = serializers.JSONField(allow_null=True)
    error = serializers.CharField()
    before = serializers.DictField(allow_null=True, help_text="The record before the change, when known.")
    after = serializers.DictField(allow_null=True, help_text="The record after the change, when it was applied.")
    diff = serializers.ListField(child=serializers.DictField(), allow_null=True, help_text="Changed fields.")
    durationMs = serializers.IntegerField(allow_null=True)
    requestId = serializers.CharField()
    bulkJobId = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    ipAddress = serializers.CharField(allow_null=True)
    userAgent = serializers.CharField()
    path = serializers.CharField()
    prevHash = serializers.CharField()
    entryHash = serializers.CharField()

    def to_representation(self, instance):
        return as_document(instance)
