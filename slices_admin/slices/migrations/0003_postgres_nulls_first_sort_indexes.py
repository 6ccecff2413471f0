"""PostgreSQL only: the sort indexes rebuilt with empty values first, the order SQLite keeps.

SQLite sorts NULL below every value; PostgreSQL above. The lists sort the SQLite way on both databases (an
ascending sort starts with the slices that have no value, a descending one ends with them: "Duration ▼" starts with
the longest, not with the quarter-million slices that never ran), so on PostgreSQL the ORDER BY says NULLS FIRST /
NULLS LAST, and the indexes must be built the same way for a page to read only its rows.
"""

from django.db import migrations

MODELS = ("OrchestratorSlice", "ExecutionSlice")


def _rebuild(apps, schema_editor, nulls: str):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name in MODELS:
        model = apps.get_model("slices", name)
        table = model._meta.db_table
        for index in model._meta.indexes:
            columns = ", ".join(f"{quote(model._meta.get_field(field).column)}{nulls}" for field in index.fields)
            where = ""
            if index.condition is not None:  # the open-lease index: rows with a lease expiry only
                where = " WHERE open_lease_expires_at IS NOT NULL"
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(index.name)}")
            schema_editor.execute(f"CREATE INDEX {quote(index.name)} ON {quote(table)} ({columns}){where}")


def nulls_first(apps, schema_editor):
    _rebuild(apps, schema_editor, " NULLS FIRST")


def as_declared(apps, schema_editor):
    _rebuild(apps, schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [("slices", "0002_postgres_indexes")]

    operations = [migrations.RunPython(nulls_first, as_declared)]
