"""PostgreSQL only: an index per status and sort column, for the sorts whose empty values depend on the status.

Which columns are empty follows a slice's lifecycle: pending and requested slices have not started, running ones
have no duration or completion, only failed ones carry an error. So "running, sorted by duration" finds every
match at the far end of the duration index, and walking that index to fill one page reads nearly the whole table.
An index that starts with the status reads only the page. 0002 built two of them with the id's empty values last,
which the lists' `id NULLS FIRST` tie-breaker cannot use; they are rebuilt here, and the other lifecycle columns
added, with two filters often combined with a status (organization, expired lease).
"""

from importlib import import_module

from django.db import migrations

INITIAL = import_module("slices_admin.slices.migrations.0002_postgres_indexes")

TABLES = ("slices_orchestratorslice", "slices_executionslice")
COLUMNS = {
    "duration": "duration_ms",
    "queued": "queued_at",
    "started": "started_at",
    "completed": "completed_at",
    "attempt": "attempt_number",
    "error": "error_message",
}


# Filters people combine with a status: the count a list shows (up to 10,000) is then read from the index alone.
COMBINED = {
    "org": "(status NULLS FIRST, organization_id NULLS FIRST, updated_on NULLS FIRST, id NULLS FIRST)",
    # "Running, lease expired": the slices to look at first when workers die. Only leased slices have the column.
    "lease": "(status NULLS FIRST, open_lease_expires_at NULLS FIRST) WHERE open_lease_expires_at IS NOT NULL",
}


def _index(table: str, key: str) -> str:
    return f"{table}_status_{key}"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for key, column in COLUMNS.items():
            name = _index(table, key)
            # The dashboard's count of slices queued too long and never started is answered from this one.
            include = " INCLUDE (started_at)" if key == "queued" else ""
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
            schema_editor.execute(
                f"CREATE INDEX {name} ON {table} (status NULLS FIRST, {column} NULLS FIRST, id NULLS FIRST){include}"
            )
        for key, definition in COMBINED.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {_index(table, key)} ON {table} {definition}")


def drop(apps, schema_editor):
    """Back to 0002's indexes."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for key in (*COLUMNS, *COMBINED):
            schema_editor.execute(f"DROP INDEX IF EXISTS {_index(table, key)}")
        for name, statement in INITIAL._statements(table).items():
            if not name.endswith("_trgm"):
                schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("slices", "0003_postgres_nulls_first_sort_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
