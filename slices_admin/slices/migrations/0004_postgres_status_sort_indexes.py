"""Once: PostgreSQL's status sort indexes, made outside the models. Superseded by 0006, where the models declare
them (`postgres_only` sort indexes) and they are built from those declarations; nothing is left to do here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("slices", "0003_postgres_nulls_first_sort_indexes")]

    operations = []
