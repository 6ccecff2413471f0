"""The console's roles as Django groups with permissions; the permission names are what views check."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from slices_admin.audit.models import ACCOUNT, AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

VIEW_SLICES = "slices.view_orchestratorslice"
EDIT_SLICES = "slices.edit_slices"
VIEW_AUDIT = "audit.view_auditentry"
MANAGE_ALL_TOKENS = "tokens.manage_all_tokens"  # admins only (superusers hold every permission)

_ROLE_PERMISSIONS = {
    VIEWER: ("slices.view_orchestratorslice", "slices.view_executionslice", VIEW_AUDIT),
    OPERATOR: ("slices.view_orchestratorslice", "slices.view_executionslice", VIEW_AUDIT, EDIT_SLICES),
}


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


@transaction.atomic
def assign_role(user, role: str, *, context: AuditContext | None = None) -> None:
    """Make `user` hold exactly `role`: admins are superusers and staff; the others hold their group only.
    A change of role is audited."""
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    before = role_of(user)
    user.is_superuser = user.is_staff = role == ADMIN
    user.save(update_fields=["is_superuser", "is_staff"])
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role != ADMIN:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions(_ROLE_PERMISSIONS[role]))
        user.groups.add(group)
    if before != role:
        record_role_change(context or AuditContext.system(), user, before, role)


@transaction.atomic
def remove_role(user, *, context: AuditContext | None = None) -> None:
    """Take every role from `user` (who keeps their account, and can then do nothing); audited if they had one."""
    before = role_of(user)
    user.is_superuser = user.is_staff = False
    user.save(update_fields=["is_superuser", "is_staff"])
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if before is not None:
        record_role_change(context or AuditContext.system(), user, before, None)


def record_role_change(context: AuditContext, user, before: str | None, after: str | None) -> None:
    record_attempt(
        context,
        action=AuditEntry.Action.ROLE_CHANGE,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        resource=ACCOUNT,
        remote_id=user.get_username(),
        before={"role": before},
        after={"role": after},
    )


def role_of(user) -> str | None:
    if user.is_superuser:
        return ADMIN
    names = {g.name for g in user.groups.all()}
    return next((role for role in (OPERATOR, VIEWER) if role in names), None)
