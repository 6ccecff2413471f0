"""Audit filters shared by the audit page and `GET /api/v1/audit`."""

import django_filters as filters

from .models import AuditEntry


class AuditFilter(filters.FilterSet):
    objectId = filters.CharFilter(field_name="remote_id", label="Slice ID")
    action = filters.ChoiceFilter(choices=AuditEntry.Action.choices, empty_label="Any action")
    actor = filters.CharFilter(field_name="actor_username", label="Actor")
    outcome = filters.ChoiceFilter(choices=AuditEntry.Outcome.choices, empty_label="Any outcome")

    class Meta:
        model = AuditEntry
        fields = []
