"""`manage.py add_user NAME --role viewer|operator|admin [--password-env VAR] [--token]`: create or update a user."""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from slices_admin.accounts.roles import ROLES, assign_role
from slices_admin.audit.services import AuditContext


class Command(BaseCommand):
    help = "Create or update a console user with one role; optionally print the user's API token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="Name of an environment variable holding the password (never pass a password as an argument).",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--token", action="store_true", help="Print the user's API token on the last line.")

    def handle(self, *args, username, role, password_env, email, token, **options):
        users = get_user_model().objects
        user = users.filter(username=username).first() or get_user_model()(username=username)
        created = user.pk is None
        if email:
            user.email = email
        if password_env:
            user.set_password(self._password(password_env, user))
        elif created:
            user.set_unusable_password()
        with transaction.atomic():
            user.save()
            assign_role(user, role, context=AuditContext.system("manage.py add_user"))
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} user {username} with role {role}.")
        if created and not password_env:
            self.stdout.write("It has no password: it can use an API token, or set one with --password-env.")
        if token:
            api_token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"API token for {username}: {api_token.key}")

    @staticmethod
    def _password(variable: str, user) -> str:
        """The password from the environment, checked before anything is written."""
        password = os.environ.get(variable)
        if not password:
            raise CommandError(f"Environment variable {variable} is empty or not set.")
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("Password rejected: " + " ".join(exc.messages)) from exc
        return password
