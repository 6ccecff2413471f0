"""Every index of the slice tables as the models declare it (`core.indexes.SortIndex`), on both databases.

Before this, PostgreSQL's indexes came from the models and from migrations 0002-0004, which rebuilt the models'
indexes with NULLS FIRST behind their backs and added status indexes the models did not know of: a tool that built
indexes from the models (the benchmark seeders) built others. Now the models declare the null ordering and the
PostgreSQL-only indexes, so every tool builds the same ones.

On PostgreSQL the indexes 0002 and 0004 made are dropped and every declared index is built anew from its
declaration (a database whose indexes a seeder rebuilt without NULLS FIRST is mended too). On SQLite the declared
indexes are the ones it has (its indexes keep empty values first without being told): only the state changes.
"""

from django.db import migrations, models

import slices_admin.core.indexes

TABLES = ("slices_orchestratorslice", "slices_executionslice")
# What 0002 and 0004 created on PostgreSQL outside the models (the trigram index of 0002 stays: see 0002).
UNDECLARED = ("status_duration", "status_queued", "status_started", "status_completed", "status_attempt",
              "status_error", "status_org", "status_lease")  # fmt: skip
MODELS = ("OrchestratorSlice", "ExecutionSlice")


def build_from_declarations(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for table in TABLES:
        for key in UNDECLARED:
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(f'{table}_{key}')}")
    for name in MODELS:
        model = apps.get_model("slices", name)
        for index in model._meta.indexes:
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(index.name)}")
            schema_editor.add_index(model, index)


class Migration(migrations.Migration):
    dependencies = [("slices", "0005_dashboard_snapshot")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_updated",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_created",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_queued",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_started",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_completed",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_attempt",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_order",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_duration",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_error",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_status",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_org",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_uuid",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="executionslice_open_lease",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="execslice_execution",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="execslice_runtime",
                ),
                migrations.RemoveIndex(
                    model_name="executionslice",
                    name="execslice_runtime_duration",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_updated",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_created",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_queued",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_started",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_completed",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_attempt",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_order",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_duration",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_error",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_status",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_org",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_uuid",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchestratorslice_open_lease",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchslice_pipeline",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchslice_runtime",
                ),
                migrations.RemoveIndex(
                    model_name="orchestratorslice",
                    name="orchslice_runtime_duration",
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["updated_on", "id", "error_message"], name="executionslice_updated"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["created_on", "id"], name="executionslice_created"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(fields=["queued_at", "id"], name="executionslice_queued"),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["started_at", "id"], name="executionslice_started"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["completed_at", "id"], name="executionslice_completed"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["attempt_number", "id"], name="executionslice_attempt"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["slice_order", "id"], name="executionslice_order"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["duration_ms", "id"], name="executionslice_duration"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["error_message", "id"], name="executionslice_error"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "updated_on", "id"], name="executionslice_status"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["organization_id", "updated_on", "id"], name="executionslice_org"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(fields=["uuid"], name="executionslice_uuid"),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        condition=models.Q(("open_lease_expires_at__isnull", False)),
                        fields=["updated_on", "id", "open_lease_expires_at"],
                        name="executionslice_open_lease",
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "duration_ms", "id"], name="executionslice_st_duration", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "queued_at", "id"],
                        include=("started_at",),
                        name="executionslice_st_queued",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "started_at", "id"], name="executionslice_st_started", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "completed_at", "id"], name="executionslice_st_completed", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "attempt_number", "id"], name="executionslice_st_attempt", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "error_message", "id"], name="executionslice_st_error", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "organization_id", "updated_on", "id"],
                        name="executionslice_st_org",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        condition=models.Q(("open_lease_expires_at__isnull", False)),
                        fields=["status", "open_lease_expires_at"],
                        name="executionslice_st_lease",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["execution_id", "slice_order", "id"], name="execslice_execution"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["module_runtime_ref", "updated_on", "id"], name="execslice_runtime"
                    ),
                ),
                migrations.AddIndex(
                    model_name="executionslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["module_runtime_ref", "duration_ms"], name="execslice_runtime_duration"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["updated_on", "id", "error_message"], name="orchestratorslice_updated"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["created_on", "id"], name="orchestratorslice_created"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["queued_at", "id"], name="orchestratorslice_queued"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["started_at", "id"], name="orchestratorslice_started"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["completed_at", "id"], name="orchestratorslice_completed"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["attempt_number", "id"], name="orchestratorslice_attempt"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["slice_order", "id"], name="orchestratorslice_order"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["duration_ms", "id"], name="orchestratorslice_duration"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["error_message", "id"], name="orchestratorslice_error"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "updated_on", "id"], name="orchestratorslice_status"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["organization_id", "updated_on", "id"], name="orchestratorslice_org"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(fields=["uuid"], name="orchestratorslice_uuid"),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        condition=models.Q(("open_lease_expires_at__isnull", False)),
                        fields=["updated_on", "id", "open_lease_expires_at"],
                        name="orchestratorslice_open_lease",
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "duration_ms", "id"], name="orchestratorslice_st_duration", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "queued_at", "id"],
                        include=("started_at",),
                        name="orchestratorslice_st_queued",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "started_at", "id"], name="orchestratorslice_st_started", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "completed_at", "id"],
                        name="orchestratorslice_st_completed",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "attempt_number", "id"],
                        name="orchestratorslice_st_attempt",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "error_message", "id"], name="orchestratorslice_st_error", postgres_only=True
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["status", "organization_id", "updated_on", "id"],
                        name="orchestratorslice_st_org",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        condition=models.Q(("open_lease_expires_at__isnull", False)),
                        fields=["status", "open_lease_expires_at"],
                        name="orchestratorslice_st_lease",
                        postgres_only=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["pipeline_execution_id", "slice_order", "id"], name="orchslice_pipeline"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["module_runtime_id", "updated_on", "id"], name="orchslice_runtime"
                    ),
                ),
                migrations.AddIndex(
                    model_name="orchestratorslice",
                    index=slices_admin.core.indexes.SortIndex(
                        fields=["module_runtime_id", "duration_ms"], name="orchslice_runtime_duration"
                    ),
                ),
            ],
        ),
        # After the state change: `apps` holds the declarations above.
        migrations.RunPython(build_from_declarations, migrations.RunPython.noop, elidable=False),
    ]
