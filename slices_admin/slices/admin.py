from django.contrib import admin

from .models import ExecutionSlice, OrchestratorSlice


class SliceRecordAdmin(admin.ModelAdmin):
    """Read-only: the cache changes only from Kodexa's answers, never by hand."""

    list_display: tuple[str, ...] = ("id", "status", "organization_id", "attempt_number", "updated_on")
    list_filter = ("status",)
    search_fields = ("=id", "=uuid", "error_message")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OrchestratorSlice)
class OrchestratorSliceAdmin(SliceRecordAdmin):
    list_display = ("id", "status", "pipeline_execution_id", "module_runtime_id", "slice_order", "updated_on")


@admin.register(ExecutionSlice)
class ExecutionSliceAdmin(SliceRecordAdmin):
    list_display = ("id", "status", "execution_id", "module_runtime_ref", "slice_order", "updated_on")
