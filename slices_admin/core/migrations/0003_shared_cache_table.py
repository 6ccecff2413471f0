"""The table of the shared `throttle` cache (settings.CACHES), as `manage.py createcachetable` makes it: in a
migration, so `migrate` is all a new database needs."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", "console_cache", database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name('console_cache')}")


class Migration(migrations.Migration):
    dependencies = [("core", "0002_kodexa_status")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
