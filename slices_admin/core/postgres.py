"""PostgreSQL-only pieces the migrations share."""

import logging

from django.db import DatabaseError, transaction

logger = logging.getLogger(__name__)


def create_trigram_extension(schema_editor, *, unindexed: str, app: str, before: str) -> bool:
    """`CREATE EXTENSION pg_trgm`, which the text searches' indexes need. A database role that may not create
    extensions is refused; the migration then goes on without the index, and a warning says how to add it later
    (`unindexed` names what stays unindexed; migrating `app` back to `before` and forward again builds it)."""
    try:
        with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint: the migration goes on
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        logger.warning(
            "The pg_trgm extension could not be created (the database role may not create extensions): %s stays "
            "unindexed. Run CREATE EXTENSION pg_trgm as the database's owner, then migrate %s back to %s and "
            "forward again.",
            unindexed, app, before,
        )  # fmt: skip
        return False
    return True
