"""Writes to the slice cache, only ever from Kodexa's answers (a change's answer, a read, a sync page), and the cached
copy of one record. Upserts never replace a row with an older `changeSequence`."""

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone

from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import Resource
from slices_admin.kodexa.schemas import parse_record

from .models import MODELS, SliceRecord


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
    """Upsert many records (a sync page); the statements themselves keep a newer cached version. Returns how many
    records were read."""
    write = prepare_cache_write(resource, payloads)
    write.apply()
    return write.records


@dataclass(slots=True)
class CacheWrite:
    """Records parsed and encoded for the cache's statements, ready to run (the encoding needs no lock and no
    database connection): `touch` marks the rows whose raw JSON is unchanged seen, `params` writes the new and
    changed ones."""

    model: type[SliceRecord]
    vendor: str
    touch: list[tuple[Any, ...]]
    params: list[list[Any]]

    @classmethod
    def together(cls, writes: Iterable["CacheWrite"]) -> list["CacheWrite"]:
        """Several writes as one per model: one statement's run for a batch instead of one each."""
        joined: dict[type[SliceRecord], CacheWrite] = {}
        for write in writes:
            into = joined.setdefault(write.model, cls(write.model, write.vendor, [], []))
            into.touch.extend(write.touch)
            into.params.extend(write.params)
        return list(joined.values())

    @property
    def records(self) -> int:
        return len(self.params)

    def apply(self) -> int:
        if self.params:
            statements = _statements(self.model, self.vendor)
            with connection.cursor() as cursor:
                if self.touch:
                    cursor.executemany(statements.touch, self.touch)
                cursor.executemany(statements.upsert, self.params)
        return self.records


def prepare_cache_write(
    resource: Resource,
    payloads: Iterable[Mapping[str, Any]],
    *,
    vendor: str | None = None,
    texts: Sequence[str] | None = None,
    changed: bool = False,
) -> CacheWrite:
    """Parse and encode records for `vendor`'s database (the default connection's when None). `texts`: each
    record's JSON text as received, kept as its raw JSON instead of encoding the record again. `changed`: the
    records are an edit's outcome (a PUT's answer, or a read showing it applied), not a listing of what Kodexa holds:
    only new and changed records are written, and the statement marking unchanged rows seen is not run (a PUT's
    answer carries a new `changeSequence`, so it would match nothing)."""
    model, seen_at, vendor = MODELS[resource], timezone.now(), vendor or connection.vendor
    statements = _statements(model, vendor)
    payloads = payloads if isinstance(payloads, Sequence) else list(payloads)
    last_at = {record_id(payload): position for position, payload in enumerate(payloads)}  # a repeated id: its last
    seen = sqlite_time(seen_at) if vendor == "sqlite" else seen_at
    params, touch = [], []
    for remote_id, position in last_at.items():
        payload = payloads[position]
        raw = texts[position] if texts is not None else _encode(dict(payload))
        row = statements.row(remote_id, payload, raw, seen)
        params.append(row)
        if not changed:
            touch.append((seen, remote_id, raw))
    return CacheWrite(model, vendor, touch, params)


def sqlite_time(value: datetime) -> str:
    """A date-time as Django writes it into SQLite: in UTC, without an offset."""
    if value.tzinfo is not UTC:  # `parse_record` answers in UTC already
        value = value.astimezone(UTC)
    return value.isoformat(" ")[:-6]  # as str() of the naive value, less its "+00:00"


_encode = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class _Statements:
    """The cache's two statements for one model on one database, and how a record becomes the upsert's row."""

    touch: str
    upsert: str
    resource: Resource
    columns: tuple[str, ...]  # the attnames, in parameter order
    places: dict[str, int]  # where the columns set apart (id, raw, last_seen_at, gone_at, open lease) are
    as_json: tuple[int, ...]  # where the object columns are
    as_time: tuple[int, ...]  # where the date-times are
    vendor: str

    def row(self, remote_id: str, payload: Mapping[str, Any], raw: str, seen: Any) -> list[Any]:
        values = parse_record(self.resource, payload)[0]
        row: list[Any] = list(map(values.get, self.columns))  # what the record does not hold (or not validly) is null
        places = self.places
        row[places["id"]], row[places["raw"]], row[places["last_seen_at"]] = remote_id, raw, seen
        row[places["open_lease_expires_at"]] = open_lease_expiry(values)
        for index in self.as_json:
            if row[index] is not None:
                row[index] = _encode(row[index])
        if self.vendor == "sqlite":
            for index in self.as_time:
                if row[index] is not None and index != places["last_seen_at"]:
                    row[index] = sqlite_time(row[index])
        return row


def replaces(model: type[SliceRecord], vendor: str) -> str:
    """The condition under which an upsert's incoming row (`excluded`) replaces the cached one: never with an older
    `changeSequence`, and not when its raw JSON is the same (that row is only marked seen). Every upsert into the
    cache, of single records or of sync pages, writes this rule."""
    quote = connection.ops.quote_name
    table, version, raw = quote(model._meta.db_table), quote("change_sequence"), quote("raw")
    differs = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    return (
        f"(excluded.{version} IS NULL OR {table}.{version} IS NULL OR excluded.{version} >= {table}.{version}) "
        f"AND {table}.{raw} {differs} excluded.{raw}"
    )


@functools.cache
def _statements(model: type[SliceRecord], vendor: str) -> _Statements:
    """The upsert writes many rows through one prepared statement and never replaces a row with an older
    `changeSequence` (the check is part of the statement, so concurrent writers cannot undo it), nor a row with
    the same raw JSON: that one only gets the touch, which moves when it was seen.

    `bulk_create(update_conflicts=True)` does the same, but compiles SQL for every value of every row: measured,
    that compilation was two thirds of a sync's time. SQLite and PostgreSQL both speak these statements."""
    quote, fields = connection.ops.quote_name, model._meta.concrete_fields
    column = {f.attname: quote(cast(str, f.column)) for f in fields}  # quoted (a concrete field has a column)
    as_json = {f.attname for f in fields if isinstance(f, models.JSONField)}
    json_placeholder = "%s::jsonb" if vendor == "postgresql" else "%s"
    columns = ", ".join(column[f.attname] for f in fields)
    placeholders = ", ".join(json_placeholder if f.attname in as_json else "%s" for f in fields)
    updates = ", ".join(f"{column[f.attname]} = excluded.{column[f.attname]}" for f in fields if not f.primary_key)
    table, raw = quote(model._meta.db_table), column["raw"]
    conflict = f"ON CONFLICT ({column[model._meta.pk.attname]}) DO UPDATE SET {updates} WHERE {replaces(model, vendor)}"
    upsert = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) {conflict}"  # noqa: S608 (names)
    touch = (
        f"UPDATE {table} SET {column['last_seen_at']} = %s, {column['gone_at']} = NULL "  # noqa: S608 (names)
        f"WHERE {column['id']} = %s AND {raw} = {json_placeholder}"
    )
    names = tuple(f.attname for f in fields)
    places = {name: names.index(name) for name in ("id", "raw", "last_seen_at", "gone_at", "open_lease_expires_at")}
    as_json_at = tuple(i for i, f in enumerate(fields) if isinstance(f, models.JSONField) and f.attname != "raw")
    as_time_at = tuple(i for i, f in enumerate(fields) if isinstance(f, models.DateTimeField))
    return _Statements(
        touch,
        upsert,
        cast(Resource, model.resource),
        names,
        places,
        as_json_at,
        as_time_at,
        vendor,
    )


def refresh_statistics(model: type[SliceRecord]) -> None:
    """Let the query planner learn the cache's shape after a sync changed it (SQLite keeps no statistics of its
    own; PostgreSQL's autovacuum would get there later)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 2000")
        cursor.execute(f"ANALYZE {table}")
