"""One source of truth for indexes: the models declare them (null ordering included), migrations and the benchmark
seeders build exactly those, and a benchmark refuses to measure a database whose indexes are not a fresh migrate's."""

import pytest
from django.db import connection

from bench import indexes, pgseed, seed
from slices_admin.slices.models import ExecutionSlice, OrchestratorSlice

TABLES = ("slices_orchestratorslice", "slices_executionslice")


def slice_indexes() -> dict[tuple[str, str], str]:
    with connection.cursor() as cursor:
        return {key: sql for key, sql in indexes.definitions(cursor, connection.vendor).items() if key[0] in TABLES}


@pytest.mark.django_db
def test_every_index_of_the_slice_tables_is_declared_on_its_model():
    """Nothing builds an index behind the models' backs (the trigram search index aside: see slices 0002)."""
    declared = {index.name for model in (OrchestratorSlice, ExecutionSlice) for index in model._meta.indexes}
    if connection.vendor != "postgresql":
        declared = {i.name for m in (OrchestratorSlice, ExecutionSlice) for i in m._meta.indexes if not i.postgres_only}
    built = {name for (_table, name) in slice_indexes()}
    unique_or_search = {n for n in built if n.endswith(("_pkey", "_like", "_error_trgm")) or n.startswith("sqlite_")}
    assert built - unique_or_search == declared


@pytest.mark.django_db
def test_every_sort_index_keeps_empty_values_first():
    definitions = slice_indexes()
    if connection.vendor != "postgresql":
        assert not any("NULLS" in sql for sql in definitions.values())  # SQLite keeps that order unasked
        return
    sorts = [sql for sql in definitions.values() if "USING btree" in sql and "UNIQUE" not in sql]
    sorts = [sql for sql in sorts if "varchar_pattern_ops" not in sql]
    assert len(sorts) == len(OrchestratorSlice._meta.indexes) + len(ExecutionSlice._meta.indexes)
    for sql in sorts:
        keys = sql.split("USING btree (", 1)[1].split(")", 1)[0]
        assert all(key.strip().endswith("NULLS FIRST") for key in keys.split(",")), sql


@pytest.mark.django_db(transaction=True)
def test_the_seeders_rebuild_exactly_the_indexes_migrate_built():
    """The benchmark seeders drop the model's indexes for a load and build them again from the model: what they
    build must be what a migration builds (it once lost the NULLS FIRST, and every list sorted its matches)."""
    migrated = slice_indexes()
    if connection.vendor == "postgresql":
        pgseed._load(OrchestratorSlice, seed.COLUMNS, [], lambda _message: None, "slices")
    else:
        with seed.bulk_load(OrchestratorSlice, log=lambda _message: None):
            pass
    assert slice_indexes() == migrated


@pytest.mark.django_db
def test_a_freshly_migrated_database_has_exactly_a_fresh_migrates_indexes():
    assert indexes.differences() == []


@pytest.mark.django_db
def test_an_index_built_another_way_is_found_and_refused():
    table = connection.ops.quote_name("slices_orchestratorslice")
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX orchestratorslice_status")
        cursor.execute(f"CREATE INDEX orchestratorslice_status ON {table} (status, updated_on DESC, id)")
        cursor.execute("DROP INDEX orchestratorslice_uuid")
    found = indexes.differences()
    assert len(found) == 2
    assert any(line.startswith("different on slices_orchestratorslice") and "status" in line for line in found)
    assert any(line.startswith("missing on slices_orchestratorslice") and "uuid" in line for line in found)
    with pytest.raises(indexes.IndexesDiffer, match="Not measuring"):
        indexes.check()
