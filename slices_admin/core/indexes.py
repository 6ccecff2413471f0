"""Indexes as the models declare them, built alike by migrations, the benchmark seeders and tests.

The lists sort the SQLite way on both databases: no value below every value. SQLite keeps that order in every
index; PostgreSQL keeps the opposite unless told `NULLS FIRST`, and an index in the other order cannot serve a
page without sorting every match. So the sort indexes say it here, in the model's `Meta`, and every tool that
builds indexes from the model (a migration, `schema_editor.add_index` in a seeder) builds the same ones.
"""

from collections.abc import Sequence

from django.db import models
from django.db.models import F, Q


class SortIndex(models.Index):
    """A b-tree over `fields`, each column with its empty values first (`NULLS FIRST` on PostgreSQL; SQLite's
    CREATE INDEX takes no NULLS clause and needs none).

    `postgres_only`: an index that only PostgreSQL's planner needs (SQLite's plans, measured by `make bench`, do
    without, and it saves the writes); elsewhere its migration does nothing. `include` (covering columns) is for
    PostgreSQL too: SQLite builds the index without them."""

    def __init__(
        self,
        *,
        fields: Sequence[str],
        name: str,
        postgres_only: bool = False,
        include: Sequence[str] | None = None,
        condition: Q | None = None,
    ) -> None:
        self.column_fields, self.postgres_only = tuple(fields), postgres_only
        super().__init__(
            *(F(field).asc(nulls_first=True) for field in fields), name=name, include=include, condition=condition
        )

    def _plain(self) -> models.Index:
        return models.Index(fields=list(self.column_fields), name=self.name, condition=self.condition)

    def create_sql(self, model, schema_editor, using="", **kwargs):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        if self.postgres_only:
            return f"-- {self.name}: an index on PostgreSQL only"
        return self._plain().create_sql(model, schema_editor, using=using, **kwargs)

    def remove_sql(self, model, schema_editor, **kwargs):
        if self.postgres_only and schema_editor.connection.vendor != "postgresql":
            return f"-- {self.name}: an index on PostgreSQL only"
        return super().remove_sql(model, schema_editor, **kwargs)

    def check(self, model, connection):
        # `include` is a PostgreSQL refinement: other databases build the index without it, as `_plain` does.
        return [error for error in super().check(model, connection) if error.id != "models.W040"]

    def deconstruct(self):
        path, _expressions, kwargs = super().deconstruct()
        kwargs["fields"] = list(self.column_fields)
        if self.postgres_only:
            kwargs["postgres_only"] = True
        return path, (), kwargs
