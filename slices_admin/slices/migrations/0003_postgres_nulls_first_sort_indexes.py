"""Once: the models' indexes rebuilt on PostgreSQL with empty values first. Superseded by 0006, where the models
declare that ordering themselves and every index is built from its declaration; nothing is left to do here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("slices", "0002_postgres_indexes")]

    operations = []
