"""Migration tokens 0002: keys of DRF's former `authtoken` table become hashed personal tokens that keep working,
and the plain keys leave the database."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from slices_admin.tokens.models import APIToken

pytestmark = pytest.mark.django_db

migration = importlib.import_module("slices_admin.tokens.migrations.0002_move_legacy_authtoken_keys")
LEGACY_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # the shape DRF gave: 40 hex characters


def legacy_table_with(rows) -> None:
    """`authtoken_token` as DRF's migrations left it, holding `rows` of (key, user id)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) NOT NULL PRIMARY KEY, created timestamp NOT NULL, "
            "user_id integer NOT NULL UNIQUE)"
        )
        for key, user_id in rows:
            cursor.execute(
                "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                [key, "2025-06-01 08:00:00", user_id],
            )


def run_migration() -> None:
    """The migration's step, inside the test's transaction (it uses the schema editor's connection only)."""
    migration.move_legacy_keys(apps, SimpleNamespace(connection=connection))


def test_a_legacy_key_keeps_signing_its_user_in_and_is_stored_only_hashed(make_user):
    alice = make_user("operator", "alice")
    legacy_table_with([(LEGACY_KEY, alice.pk)])
    run_migration()
    token = APIToken.objects.get()
    assert (token.user, token.legacy, token.key_id) == (alice, True, LEGACY_KEY[:10])
    assert token.name == migration.LEGACY_NAME and token.created_at.year == 2025
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {LEGACY_KEY}")
    assert api.get("/api/v1/audit").status_code == 200
    assert LEGACY_KEY not in repr(list(APIToken.objects.values()))
    assert token.shown_id == f"{LEGACY_KEY[:10]}…"


def test_legacy_keys_expire_no_later_than_the_maximum(make_user, settings):
    settings.API_TOKEN_MAX_DAYS = 7
    legacy_table_with([(LEGACY_KEY, make_user("viewer").pk)])
    run_migration()
    assert APIToken.objects.get().expires_at - timezone.now() <= timedelta(days=7)


def test_a_database_that_never_had_drf_tokens_is_left_alone(make_user):
    make_user("viewer")
    run_migration()
    assert not APIToken.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_migrate_moves_the_keys(make_user):
    """The same through `manage.py migrate`, from the state before personal tokens existed."""
    alice = make_user("viewer", "alice")
    call_command("migrate", "tokens", "zero", verbosity=0)
    try:
        legacy_table_with([(LEGACY_KEY, alice.pk)])
        call_command("migrate", "tokens", verbosity=0)
        token = APIToken.objects.get()
        assert token.user == alice and token.legacy
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0
    finally:
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
