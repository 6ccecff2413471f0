from rest_framework import serializers

from slices_admin.audit.models import AuditEntry


class CachedRecordSerializer(serializers.BaseSerializer):
    """A cached slice as Kodexa last answered it (its raw JSON, fields outside the contract included)."""

    def to_representation(self, instance):
        return instance.raw


class AuditEntrySerializer(serializers.ModelSerializer):
    occurredAt = serializers.DateTimeField(source="occurred_at")
    actor = serializers.CharField(source="actor_username")
    objectId = serializers.CharField(source="remote_id")
    requestBody = serializers.JSONField(source="request_body")
    responseStatus = serializers.IntegerField(source="response_status")
    responseBody = serializers.JSONField(source="response_body")
    durationMs = serializers.IntegerField(source="duration_ms")
    requestId = serializers.CharField(source="request_id")
    bulkJobId = serializers.IntegerField(source="bulk_job_id")

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "occurredAt",
            "actor",
            "action",
            "outcome",
            "resource",
            "objectId",
            "requestBody",
            "responseStatus",
            "responseBody",
            "error",
            "before",
            "after",
            "diff",
            "durationMs",
            "requestId",
            "bulkJobId",
            "reason",
        ]
