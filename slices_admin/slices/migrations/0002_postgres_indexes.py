"""PostgreSQL only: indexes its planner needs for the lists at a million rows (measured by `make load`); SQLite,
whose plans `make bench` measures, is left as it is.

- Text search in error messages (`q`). Django's case-insensitive `icontains` is `UPPER(error_message) LIKE
  UPPER('%text%')`: no b-tree serves it, and with no statistics on the expression the planner guesses a handful
  of matches and reads the whole table (about 0.6 s). A GIN trigram index on the expression serves the LIKE, and
  ANALYZE then keeps statistics on the expression, so the planner knows how many match.
- A status filter sorted by duration or by queue time. Without an index that starts with the status, PostgreSQL
  walks the sort column's index and checks the status row by row; where the two are correlated (the longest
  durations are failed timeouts) it reads hundreds of thousands of rows for one page (over 1 s).

The indexes are not in the models' Meta: they exist on PostgreSQL only.
"""

from django.db import migrations

from slices_admin.core.postgres import create_trigram_extension

TABLES = ("slices_orchestratorslice", "slices_executionslice")


def _statements(table: str) -> dict[str, str]:
    """Index name → its CREATE statement."""
    statements = {
        f"{table}_error_trgm": f"ON {table} USING gin (UPPER(error_message) gin_trgm_ops)",
        # Empty values first, as the lists sort them (see 0003).
        f"{table}_status_duration": f"ON {table} (status NULLS FIRST, duration_ms NULLS FIRST, id)",
        # started_at rides along for the dashboard's count of slices queued too long and never started.
        f"{table}_status_queued": f"ON {table} (status NULLS FIRST, queued_at NULLS FIRST, id) INCLUDE (started_at)",
    }
    return {name: f"CREATE INDEX IF NOT EXISTS {name} {rest}" for name, rest in statements.items()}


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    trigrams = create_trigram_extension(
        schema_editor, unindexed="text search in error messages", app="slices", before="0001"
    )
    for table in TABLES:
        for name, statement in _statements(table).items():
            if trigrams or not name.endswith("_trgm"):
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
