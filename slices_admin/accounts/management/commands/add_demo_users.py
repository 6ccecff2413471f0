"""`manage.py add_demo_users`: one user per role with known passwords, for the sandbox demo only."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from slices_admin.accounts.roles import ROLES, assign_role
from slices_admin.audit.services import AuditContext

DEMO_PASSWORD_SUFFIX = "-demo-password"  # noqa: S105 (sandbox demo logins, printed by make run)


class Command(BaseCommand):
    help = "Create the demo users viewer, operator and admin (only while the console talks to the sandbox)."

    def handle(self, *args, **options):
        if not settings.KODEXA_SANDBOX:
            raise CommandError(
                "Demo users with known passwords are only created against the sandbox. "
                "Use `manage.py add_user NAME --role ROLE --password-env VAR` for a real deployment."
            )
        users = get_user_model().objects
        for role in ROLES:
            user, _ = users.get_or_create(username=role)
            user.set_password(role + DEMO_PASSWORD_SUFFIX)
            user.save()
            assign_role(user, role, context=AuditContext.system("manage.py add_demo_users"))
            self.stdout.write(f"  {role:<9} password {role}{DEMO_PASSWORD_SUFFIX}")
