"""The user admin, with role changes (superuser flag, groups) written to the audit log."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from slices_admin.audit.services import AuditContext

from .roles import record_role_change, role_of

User = get_user_model()


class AuditedUserAdmin(UserAdmin):
    def save_model(self, request, obj, form, change):
        obj._role_before = role_of(User.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user = form.instance
        before, after = getattr(user, "_role_before", None), role_of(User.objects.get(pk=user.pk))
        if before != after:
            record_role_change(AuditContext.from_request(request), user, before, after)


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
