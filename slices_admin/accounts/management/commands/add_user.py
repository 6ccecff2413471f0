"""`manage.py add_user NAME --role viewer|operator|admin [--password-env VAR] [--token [--token-days N]]`: create
or update a user, and optionally give them a new personal API token (printed once, on the last line)."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from slices_admin.accounts.roles import ROLES, assign_role
from slices_admin.audit.services import AuditContext
from slices_admin.tokens.services import default_expiry_days, issue_token

TOKEN_NAME = "add_user"  # noqa: S105 (the name the new token is listed under, not a secret)


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
        parser.add_argument(
            "--token",
            action="store_true",
            help=f"Create a new personal API token named {TOKEN_NAME!r} and print it on the last line (only then).",
        )
        parser.add_argument(
            "--token-days",
            type=int,
            default=default_expiry_days(),
            metavar="DAYS",
            help="Days until the new token expires (default %(default)s; at most API_TOKEN_MAX_DAYS).",
        )

    def handle(self, *args, username, role, password_env, email, token, token_days, **options):
        if token and not 1 <= token_days <= settings.API_TOKEN_MAX_DAYS:
            raise CommandError(f"--token-days must be from 1 to {settings.API_TOKEN_MAX_DAYS} (API_TOKEN_MAX_DAYS).")
        users = get_user_model().objects
        user = users.filter(username=username).first() or get_user_model()(username=username)
        created = user.pk is None
        if email:
            user.email = email
        if password_env:
            user.set_password(self._password(password_env, user))
        elif created:
            user.set_unusable_password()
        context = AuditContext.system("manage.py add_user")
        with transaction.atomic():
            user.save()
            assign_role(user, role, context=context)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} user {username} with role {role}.")
        if created and not password_env:
            self.stdout.write("It has no password: it can use an API token, or set one with --password-env.")
        if token:
            api_token, text = issue_token(user, name=TOKEN_NAME, days=token_days, context=context)
            expires = f"{api_token.expires_at:%Y-%m-%d %H:%M} UTC"
            self.stdout.write(f"New API token {api_token.pk} “{TOKEN_NAME}”, expires {expires}; it is not shown again.")
            self.stdout.write(f"API token for {username}: {text}")

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
