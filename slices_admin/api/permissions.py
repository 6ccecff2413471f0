from rest_framework.permissions import SAFE_METHODS, BasePermission

from slices_admin.accounts.roles import EDIT_SLICES, VIEW_SLICES


class RolePermission(BasePermission):
    """Reads need a console role; anything else needs the operator's permission to change slices."""

    message = "Your role does not allow this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return user.has_perm(getattr(view, "read_permission", VIEW_SLICES))
        return user.has_perm(EDIT_SLICES)
