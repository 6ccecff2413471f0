from rest_framework import serializers

from slices_admin.audit.export import as_document


class CachedRecordSerializer(serializers.BaseSerializer):
    """A cached slice as Kodexa last answered it (its raw JSON, fields outside the contract included)."""

    def to_representation(self, instance):
        return instance.raw


class AuditEntrySerializer(serializers.BaseSerializer):
    """An entry with every field, the chain's hashes included (the same document as the JSON Lines export)."""

    def to_representation(self, instance):
        return as_document(instance)
