"""PostgreSQL only: the error rows' own index under each lifecycle sort (see the models' Meta)."""

from django.db import migrations, models

import slices_admin.core.indexes


class Migration(migrations.Migration):
    dependencies = [
        ("slices", "0007_sync_run_worker"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="executionslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["duration_ms", "id"],
                name="executionslice_e_duration",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="executionslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["queued_at", "id"],
                name="executionslice_e_queued",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="executionslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["started_at", "id"],
                name="executionslice_e_started",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="executionslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["completed_at", "id"],
                name="executionslice_e_completed",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="orchestratorslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["duration_ms", "id"],
                name="orchestratorslice_e_duration",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="orchestratorslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["queued_at", "id"],
                name="orchestratorslice_e_queued",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="orchestratorslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["started_at", "id"],
                name="orchestratorslice_e_started",
                postgres_only=True,
            ),
        ),
        migrations.AddIndex(
            model_name="orchestratorslice",
            index=slices_admin.core.indexes.SortIndex(
                condition=models.Q(("error_message__gt", "")),
                fields=["completed_at", "id"],
                name="orchestratorslice_e_completed",
                postgres_only=True,
            ),
        ),
    ]
