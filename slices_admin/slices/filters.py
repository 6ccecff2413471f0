"""Filter definitions shared by the HTML lists and the JSON API (query parameters are camelCase, as Kodexa's)."""

import django_filters as filters
from django import forms
from django.db.models import Q

from .models import ExecutionSlice, OrchestratorSlice


class AnyValueMultipleChoiceField(forms.MultipleChoiceField):
    """Statuses are plain strings on the platform: accept any, several at once (`?status=A&status=B`)."""

    def valid_value(self, value):
        return True


class AnyValueMultipleFilter(filters.MultipleChoiceFilter):
    field_class = AnyValueMultipleChoiceField


class SliceFilter(filters.FilterSet):
    status = AnyValueMultipleFilter(field_name="status", label="Status")
    organizationId = filters.CharFilter(field_name="organization_id", label="Organization")
    q = filters.CharFilter(method="search", label="Search")

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(id=value) | Q(uuid=value) | Q(error_message__icontains=value))


class OrchestratorSliceFilter(SliceFilter):
    pipelineExecutionId = filters.CharFilter(field_name="pipeline_execution_id", label="Pipeline execution")
    moduleRuntimeId = filters.CharFilter(field_name="module_runtime_id", label="Module runtime")

    class Meta:
        model = OrchestratorSlice
        fields = []


class ExecutionSliceFilter(SliceFilter):
    executionId = filters.CharFilter(field_name="execution_id", label="Execution")
    moduleRuntimeRef = filters.CharFilter(field_name="module_runtime_ref", label="Module runtime")

    class Meta:
        model = ExecutionSlice
        fields = []
