"""PostgreSQL only: a trigram index for the audit search, so a word found in few entries (or none) is looked up
rather than read for in every entry: at a million entries, a name nobody has took 5 s to not find.

The search is `UPPER(<search_text>) LIKE UPPER('%word%')` (Django's `icontains`); the index is built from the same
expression (`models.search_text`). Without the pg_trgm extension (a database role that may not create one) the
search keeps reading the entries, and a warning says how to add the index later.
"""

from django.db import migrations
from django.db.models.functions import Upper
from django.db.models.sql import Query

from slices_admin.audit.models import search_text
from slices_admin.core.postgres import create_trigram_extension

INDEX = "audit_search_trgm"


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    if not create_trigram_extension(schema_editor, unindexed="the audit search", app="audit", before="0006"):
        return
    model = apps.get_model("audit", "AuditEntry")
    query = Query(model, alias_cols=False)
    expression, params = (
        Upper(search_text()).resolve_expression(query).as_sql(query.get_compiler(connection=connection), connection)
    )
    table = schema_editor.quote_name(model._meta.db_table)
    schema_editor.execute(f"CREATE INDEX {INDEX} ON {table} USING gin (({expression}) gin_trgm_ops)", params)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_request_id_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
