"""PostgreSQL only: a trigram index for text search in error messages (`q`), which SQLite cannot build.

Django's case-insensitive `icontains` is `UPPER(error_message) LIKE UPPER('%text%')`: no b-tree serves it, and with
no statistics on the expression the planner guesses a handful of matches and reads the whole table (about 0.6 s).
A GIN trigram index on the expression serves the LIKE, and ANALYZE then keeps statistics on the expression, so the
planner knows how many match. It stays outside the models' Meta: it needs the pg_trgm extension, which a database
role may be refused (`create_trigram_extension`), and then the console works without it.

(This migration once also made two status sort indexes; the models declare those now, see 0006.)
"""

from django.db import migrations

from slices_admin.core.postgres import create_trigram_extension

TABLES = ("slices_orchestratorslice", "slices_executionslice")


def _statements(table: str) -> dict[str, str]:
    """Index name → its CREATE statement."""
    statements = {f"{table}_error_trgm": f"ON {table} USING gin (UPPER(error_message) gin_trgm_ops)"}
    return {name: f"CREATE INDEX IF NOT EXISTS {name} {rest}" for name, rest in statements.items()}


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    trigrams = create_trigram_extension(
        schema_editor, unindexed="text search in error messages", app="slices", before="0001"
    )
    for table in TABLES:
        if trigrams:
            for statement in _statements(table).values():
                schema_editor.execute(statement)
        schema_editor.execute(f"ANALYZE {table}")  # statistics on the indexed expression, for the planner


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for name in _statements(table):
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("slices", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
