"""Keys of DRF's `authtoken` (plain text in `authtoken_token`) become hashed personal tokens, and the plain keys go.

Scripts keep working with the key they have (`Authorization: Token <key>`): each key is stored as its SHA-256 digest
with its first 10 characters as the lookup id, named "API key from before personal tokens", expiring
`LEGACY_DAYS` after this migration (or sooner if API_TOKEN_MAX_DAYS is lower), so that every key in use gets a
date by which its owner replaces it. The plain rows are then deleted: a copy of the database no longer holds a
working key. The emptied table is left in place (the app is no longer installed; `DROP TABLE authtoken_token`
removes it). Reversing it does nothing: the plain keys cannot be recovered from their digests.
"""

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

LEGACY_TABLE = "authtoken_token"
LEGACY_NAME = "API key from before personal tokens"
LEGACY_DAYS = 90
KEY_ID_LENGTH = 10  # tokens.keys.KEY_ID_LENGTH when this was written


def move_legacy_keys(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if LEGACY_TABLE not in connection.introspection.table_names(cursor):
            return  # a database that never had DRF's tokens
        columns = ", ".join(map(connection.ops.quote_name, ("key", "user_id", "created")))
        cursor.execute(f"SELECT {columns} FROM {connection.ops.quote_name(LEGACY_TABLE)}")  # noqa: S608
        rows = cursor.fetchall()
    APIToken = apps.get_model("tokens", "APIToken")
    expires = timezone.now() + timedelta(days=min(LEGACY_DAYS, settings.API_TOKEN_MAX_DAYS))
    APIToken.objects.bulk_create(
        APIToken(
            user_id=user_id,
            name=LEGACY_NAME,
            key_id=key[:KEY_ID_LENGTH],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            created_at=_aware(created),
            expires_at=expires,
            legacy=True,
        )
        for key, user_id, created in rows
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(LEGACY_TABLE)}")  # noqa: S608


def _aware(moment):
    """A raw read of a datetime column: SQLite gives it without a zone (it holds UTC), PostgreSQL with one."""
    if not isinstance(moment, datetime):
        return timezone.now()
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial")]

    operations = [migrations.RunPython(move_legacy_keys, migrations.RunPython.noop, elidable=False)]
