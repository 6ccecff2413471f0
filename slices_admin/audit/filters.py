"""Audit filters shared by the audit page, its exports and `GET /api/v1/audit` (camelCase, like the slice filters)."""

from typing import Any

import django_filters as filters
from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import QueryDict

from slices_admin.kodexa.contract import RESOURCES
from slices_admin.slices.filters import UtcIsoDateTimeField

from .models import ACCOUNT, AuditEntry
from .selectors import text_search

RESOURCE_CHOICES = [(path, resource.label) for path, resource in RESOURCES.items()] + [(ACCOUNT, "Accounts")]


class AuditFilterForm(forms.Form):
    def clean(self) -> dict[str, Any] | None:
        data = super().clean()
        if data is not None and data.get("since") and data.get("until") and data["until"] <= data["since"]:
            self.add_error("until", "Must be later than From.")
        return data


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class AuditFilter(filters.FilterSet):
    q = filters.CharFilter(method="search", label="Search")
    actor = filters.CharFilter(field_name="actor_username", label="Actor")
    # One table, no joins: rows cannot repeat. django-filter's default DISTINCT over every column (JSON included)
    # makes PostgreSQL read and sort all matches before the first page.
    action = filters.MultipleChoiceFilter(choices=AuditEntry.Action.choices, label="Action", distinct=False)
    outcome = filters.MultipleChoiceFilter(choices=AuditEntry.Outcome.choices, label="Outcome", distinct=False)
    resource = filters.ChoiceFilter(choices=RESOURCE_CHOICES, empty_label="Any resource", label="Resource")
    objectId = filters.CharFilter(field_name="remote_id", label="Slice ID or username")
    bulkJob = filters.NumberFilter(field_name="bulk_job_id", label="Bulk job", min_value=1)
    requestId = filters.CharFilter(field_name="request_id", label="Request ID")
    since = UtcIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )
    until = UtcIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="lt",
        label="Until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []
        form = AuditFilterForm

    def search(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        return text_search(queryset, value)


def visible_entries(user: User | AnonymousUser) -> QuerySet[AuditEntry]:
    """Security events (sign-ins with addresses, refusals, role changes) are for administrators only."""
    entries = AuditEntry.objects.all()
    return entries if user.is_superuser else entries.exclude(resource=ACCOUNT)


def filtered_entries(
    params: QueryDict | dict[str, Any], user: User | AnonymousUser
) -> tuple[AuditFilter, QuerySet[AuditEntry]]:
    """The filterset for `params` and its queryset (none when the filters are invalid: the caller shows the
    errors instead)."""
    filterset = AuditFilter(params, queryset=visible_entries(user))
    return filterset, filterset.qs if filterset.is_valid() else AuditEntry.objects.none()
