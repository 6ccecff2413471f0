"""A sync page written into a PostgreSQL cache as one set: the page's typed values copied (COPY) into a temporary
table, its records read from the JSON text they came in by the server itself, then one statement that marks the
unchanged rows seen and one that writes the new and changed ones.

Python never encodes a record again: each row's raw JSON and its four object columns are the server's reading of the
page as it came over the wire (`jsonb_array_elements`), and that work runs in the server's process, beside the
console's. The typed columns are `parse_record`'s, as for every other write to the cache. Staging needs no database
connection (`stage_page` runs on the thread that fetched the page); `StagedPage.apply` runs in the caller's
transaction, so an interrupted page leaves the cache as it was. As `cache.cache_records` (which SQLite's syncs use),
a row is never replaced by an older `changeSequence`, and a row whose raw JSON is unchanged is not rewritten: only
when it was seen moves.
"""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone

from slices_admin.kodexa.contract import Resource
from slices_admin.kodexa.schemas import parse_record

from .cache import open_lease_expiry, record_id, replaces
from .models import MODELS, SliceRecord

_SET_APART = {"id", "raw", "gone_at"}  # columns not staged from `parse_record`'s values


@dataclass(frozen=True, slots=True)
class StagedPage:
    """A page's records ready to merge: one staged row per record id (the page's last copy of it), and the JSON text
    holding the list of all of them at `path`."""

    resource: Resource
    rows: list[tuple[Any, ...]]
    body: str
    path: list[str]

    @property
    def records(self) -> int:
        return len(self.rows)

    def apply(self) -> int:
        """Merge the page into the cache, in the caller's transaction; returns how many records it held."""
        statements = _statements(MODELS[self.resource])
        with connection.cursor() as cursor:
            cursor.execute(statements.create)
            cursor.execute(statements.empty)
            # psycopg's own cursor, under Django's wrapper: its errors made Django's, as `execute`'s are (a lost
            # connection mid-COPY is then an OperationalError that a sync waits out).
            with connection.wrap_database_errors, cursor.cursor.copy(statements.copy) as copy:
                for row in self.rows:
                    copy.write_row(row)
            cursor.execute(statements.fill_raw, [self.body, self.path])
            cursor.execute(statements.analyze)  # a temporary table has no statistics unless told: join by the index
            cursor.execute(statements.touch_unchanged)
            cursor.execute(statements.write_changed)
        return self.records


def stage_page(
    resource: Resource, records: Sequence[Mapping[str, Any]], *, body: str, path: Sequence[str]
) -> StagedPage:
    """Parse a page's records into staged rows; `body` is the JSON text they were decoded from (their list at
    `path`)."""
    last_at = {record_id(record): position for position, record in enumerate(records)}  # a repeated id: its last
    names, seen = _statements(MODELS[resource]).staged, timezone.now()
    rows = []
    for remote_id, position in last_at.items():
        values = parse_record(resource, records[position])[0]
        values["open_lease_expires_at"], values["last_seen_at"] = open_lease_expiry(values), seen
        rows.append((position, remote_id, *map(values.get, names)))
    return StagedPage(resource, rows, body, list(path))


@dataclass(frozen=True, slots=True)
class _Statements:
    staged: tuple[str, ...]  # the staged columns after position and id, named as `parse_record` names them
    create: str
    empty: str
    analyze: str
    copy: str
    fill_raw: str
    touch_unchanged: str
    write_changed: str


@functools.cache
def _statements(model: type[SliceRecord]) -> _Statements:
    """The staging tables and statements for `model` (one pair of temporary tables per connection)."""
    quote, fields = connection.ops.quote_name, model._meta.concrete_fields
    objects = [f for f in fields if isinstance(f, models.JSONField) and f.attname != "raw"]
    staged = [f for f in fields if f.attname not in _SET_APART and f not in objects]
    column = {f.attname: quote(cast(str, f.column)) for f in fields}
    wire = {f.python_name: f.wire_name for f in cast(Resource, model.resource).fields}
    table, stage = quote(model._meta.db_table), quote(f"stage_{model._meta.db_table}")
    key_type = model._meta.pk.db_type(connection)
    declared = ", ".join(f"{column[f.attname]} {f.db_type(connection)}" for f in staged)

    def object_of(field: models.Field[Any, Any]) -> str:
        """The record's value at the field's key when it is a JSON object, else null (as `parse_record` reads)."""
        key = wire[field.attname]
        return f"CASE WHEN jsonb_typeof(s.raw -> '{key}') = 'object' THEN s.raw -> '{key}' END"

    written = [column["id"], *(column[f.attname] for f in staged), *(column[f.attname] for f in objects)]
    written += [column["raw"], column["gone_at"]]
    selected = ["s.id", *(f"s.{column[f.attname]}" for f in staged), *map(object_of, objects), "s.raw", "NULL"]
    updates = ", ".join(f"{name} = excluded.{name}" for name in written[1:])
    raw, seen = column["raw"], column["last_seen_at"]
    staged_columns = ", ".join(column[f.attname] for f in staged)
    return _Statements(
        staged=tuple(f.attname for f in staged),
        create=f"CREATE TEMP TABLE IF NOT EXISTS {stage} (pos integer PRIMARY KEY, id {key_type}, {declared}, raw jsonb)",  # noqa: E501
        empty=f"TRUNCATE {stage}",
        analyze=f"ANALYZE {stage}",
        copy=f"COPY {stage} (pos, id, {staged_columns}) FROM STDIN",
        fill_raw=(
            f"UPDATE {stage} s SET raw = j.value "  # noqa: S608 (names)
            "FROM jsonb_array_elements(%s::jsonb #> %s::text[]) WITH ORDINALITY AS j(value, n) WHERE s.pos = j.n - 1"
        ),
        touch_unchanged=(
            f"UPDATE {table} SET {seen} = s.{seen}, {column['gone_at']} = NULL FROM {stage} s "  # noqa: S608 (names)
            f"WHERE {table}.{column['id']} = s.id AND {table}.{raw} = s.raw"
        ),
        write_changed=(
            f"INSERT INTO {table} ({', '.join(written)}) SELECT {', '.join(selected)} FROM {stage} s "  # noqa: S608
            f"ON CONFLICT ({column['id']}) DO UPDATE SET {updates} WHERE {replaces(model, 'postgresql')}"
        ),
    )
