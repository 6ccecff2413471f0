"""Writes to the slice cache, only ever from Kodexa's answers (a change's answer, a read, a sync page), and the cached
copy of one record. Upserts never replace a row with an older `changeSequence`."""

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone

from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import Resource
from slices_admin.kodexa.schemas import parse_record

from .models import MODELS, SliceRecord


def _row_values(resource: Resource, payload: Mapping[str, Any], seen_at: datetime) -> dict[str, Any]:
    values, _problems = parse_record(resource, payload)
    columns = {f.python_name: values.get(f.python_name) for f in resource.fields if f.python_name != "id"}
    return {
        **columns,
        "open_lease_expires_at": open_lease_expiry(columns),
        "raw": dict(payload),
        "last_seen_at": seen_at,
        "gone_at": None,
    }


def open_lease_expiry(columns: Mapping[str, Any]) -> datetime | None:
    """When the lease of a leased, unfinished slice runs out; None for any other slice."""
    if columns.get("leased_at") is None or columns.get("completed_at") is not None:
        return None
    return columns.get("lease_expires_at")


def record_id(payload: Any) -> str:
    """The id of a record Kodexa answered with; a protocol error when the answer is no record with an id."""
    if not isinstance(payload, dict):
        raise errors.KodexaProtocolError(None, "Kodexa answered without a JSON record.", body=payload)
    remote_id = payload.get("id")
    if not isinstance(remote_id, str) or not remote_id:
        raise errors.KodexaProtocolError(None, "Kodexa answered with a record that has no id.", body=payload)
    return remote_id


def cached_record(resource: Resource, remote_id: str) -> dict[str, Any] | None:
    row = MODELS[resource].objects.filter(id=remote_id).only("raw").first()
    return row.raw if row else None


def cache_record(resource: Resource, payload: Mapping[str, Any]) -> SliceRecord:
    """Upsert one record Kodexa answered with (unless the cache already holds a newer version); returns the row."""
    cache_records(resource, [payload])
    return MODELS[resource].objects.get(id=record_id(payload))


def cache_records(resource: Resource, payloads: Iterable[Mapping[str, Any]]) -> int:
    """Upsert many records in one statement (a sync page); the statement itself keeps a newer cached version.
    Returns how many records were read."""
    write = prepare_cache_write(resource, payloads)
    write.apply()
    return len(write.params)


@dataclass(slots=True)
class CacheWrite:
    """Records parsed and encoded for the cache's upsert, ready to run (the encoding needs no lock)."""

    model: type[SliceRecord]
    params: list[list[Any]]

    @classmethod
    def together(cls, writes: Iterable["CacheWrite"]) -> list["CacheWrite"]:
        """Several writes as one per model: one statement's run for a batch instead of one each."""
        joined: dict[type[SliceRecord], CacheWrite] = {}
        for write in writes:
            joined.setdefault(write.model, cls(write.model, [])).params.extend(write.params)
        return list(joined.values())

    def apply(self) -> None:
        if self.params:
            sql = _upsert_statement(self.model, connection.vendor)[0]
            with connection.cursor() as cursor:
                cursor.executemany(sql, self.params)


def prepare_cache_write(resource: Resource, payloads: Iterable[Mapping[str, Any]]) -> CacheWrite:
    model, seen_at = MODELS[resource], timezone.now()
    by_id = {record_id(p): p for p in payloads}
    rows = [{"id": remote_id, **_row_values(resource, payload, seen_at)} for remote_id, payload in by_id.items()]
    return CacheWrite(model, _upsert_params(model, rows))


def _upsert_params(model: type[SliceRecord], rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows as parameters of the upsert statement below, which writes many rows through one prepared statement
    and never replaces a row with an older `changeSequence` (the check is part of the statement, so concurrent
    writers cannot undo it).

    `bulk_create(update_conflicts=True)` does the same, but compiles SQL for every value of every row: measured,
    that compilation was two thirds of a sync's time. SQLite and PostgreSQL both speak this statement.
    """
    _sql, fields, as_json, as_time = _upsert_statement(model, connection.vendor)
    adapt_time = connection.ops.adapt_datetimefield_value

    def prepared(row: dict[str, Any]) -> list[Any]:
        values: list[Any] = []
        for field in fields:
            value = row.get(field.attname)
            if value is not None and field.attname in as_json:
                value = json.dumps(value, ensure_ascii=False)
            elif value is not None and field.attname in as_time:
                value = adapt_time(value)
            values.append(value)
        return values

    return [prepared(row) for row in rows]


@functools.cache
def _upsert_statement(
    model: type[SliceRecord], vendor: str
) -> tuple[str, Sequence[models.Field[Any, Any]], set[str], set[str]]:
    """The upsert statement for `model` on `vendor`, its fields in parameter order, and which of them are written as
    JSON text and which as date-times."""
    quote, fields = connection.ops.quote_name, model._meta.concrete_fields
    column = {f.attname: quote(cast(str, f.column)) for f in fields}  # quoted (a concrete field has a column)
    as_json = {f.attname for f in fields if isinstance(f, models.JSONField)}
    as_time = {f.attname for f in fields if isinstance(f, models.DateTimeField)}
    json_placeholder = "%s::jsonb" if vendor == "postgresql" else "%s"
    columns = ", ".join(column[f.attname] for f in fields)
    placeholders = ", ".join(json_placeholder if f.attname in as_json else "%s" for f in fields)
    updates = ", ".join(f"{column[f.attname]} = excluded.{column[f.attname]}" for f in fields if not f.primary_key)
    table, version = quote(model._meta.db_table), quote("change_sequence")
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 (names)
        f"ON CONFLICT ({column[model._meta.pk.attname]}) DO UPDATE SET {updates} "
        f"WHERE excluded.{version} IS NULL OR {table}.{version} IS NULL OR excluded.{version} >= {table}.{version}"
    )
    return sql, fields, as_json, as_time


def refresh_statistics(model: type[SliceRecord]) -> None:
    """Let the query planner learn the cache's shape after a sync changed it (SQLite keeps no statistics of its
    own; PostgreSQL's autovacuum would get there later)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 2000")
        cursor.execute(f"ANALYZE {table}")
