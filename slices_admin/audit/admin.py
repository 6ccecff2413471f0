from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is changed by nobody, admins included."""

    list_display = (
        "occurred_at",
        "actor_username",
        "action",
        "outcome",
        "resource",
        "remote_id",
        "response_status",
    )
    list_filter = ("action", "outcome", "resource")
    search_fields = ("remote_id", "actor_username", "request_id")
    show_full_result_count = False  # no COUNT over a million entries
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
