"""Serializers of the JSON API: strict request fields (JSON types are never coerced, so a typo or a wrong type is a
field error, not a silent default) and the documents the API answers with (an audit entry's is `audit.documents`)."""

from rest_framework import serializers


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
