"""SQLite persistence of the sandbox: a table per slice resource, each record kept as the JSON that is served.

Only what lists filter and sort on is copied out of the JSON into indexed columns, so a page is answered by
joining stored strings. Date-times are stored and served as RFC 3339 UTC instants ending in `Z`; their columns
hold a fixed-width form so that text order is time order. Connections come from a small pool, one per
concurrent operation; writes are serialised by a lock and run in `BEGIN IMMEDIATE` transactions (WAL mode).

SQL text is assembled only by `Table`, from the table and column names fixed in `TABLES`; every value is a
bound parameter (hence the S608 exemptions there).
"""

import json
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import batched
from pathlib import Path
from typing import Any

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource

_SORT_COLUMNS = ("updatedOn", "createdOn", "sliceOrder")
SORT_FIELDS = (*_SORT_COLUMNS, "id")
_DATETIME_COLUMNS = frozenset({"updatedOn", "createdOn"})
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_INSERT_BATCH = 5000


def parse_instant(text: object) -> datetime:
    """Parse an RFC 3339 date-time with any offset; raise TypeError or ValueError for anything else."""
    if not isinstance(text, str):
        raise TypeError(f"not a string: {text!r}")
    text = text.upper()
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    return datetime.fromisoformat(text).astimezone(UTC)


def format_instant(moment: datetime) -> str:
    """The canonical text of an instant, as the platform writes it: UTC, `Z`, fraction digits only as needed."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    micros = moment.microsecond
    timespec = "seconds" if micros == 0 else "milliseconds" if micros % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=timespec).removesuffix("+00:00") + "Z"


def _sort_key(canonical: str) -> str:
    """Fixed-width text of a canonical instant (from `format_instant`), so that text order is time order."""
    seconds, _, fraction = canonical.removesuffix("Z").partition(".")
    return f"{seconds}.{fraction:0<6}"


def dump_record(record: Mapping[str, Any]) -> str:
    """The compact JSON text a record is stored and served as."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Table:
    """How one resource is laid out in SQLite: which fields get their own column, and its parent execution."""

    resource: Resource
    name: str
    parent_field: str
    counts_puts: bool

    @property
    def filter_fields(self) -> tuple[str, ...]:
        return ("status", "organizationId", self.parent_field)

    @property
    def column_fields(self) -> tuple[str, ...]:
        return ("id", *self.filter_fields, *_SORT_COLUMNS)

    def column(self, wire_name: str) -> str:
        return next(f.python_name for f in self.resource.fields if f.wire_name == wire_name)

    def create_sql(self) -> str:
        columns = [
            f"{self.column(name)} {'INTEGER' if name == 'sliceOrder' else 'TEXT'} NOT NULL"
            for name in self.column_fields[1:]
        ]
        if self.counts_puts:
            columns.append("put_count INTEGER NOT NULL DEFAULT 0")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (id TEXT PRIMARY KEY, {', '.join(columns)}, body TEXT NOT NULL)"

    def indexes(self) -> dict[str, str]:
        """The secondary indexes by name: each filter with the default sort, the parent by slice order, each sort."""
        indexes = dict(self._index(field, "createdOn") for field in self.filter_fields[:2])
        indexes.update([self._index(self.parent_field, "sliceOrder")])
        indexes.update(self._index(field) for field in _SORT_COLUMNS)
        if self.counts_puts:
            name = f"ix_{self.name}_puts"
            indexes[name] = f"CREATE INDEX IF NOT EXISTS {name} ON {self.name} (put_count) WHERE put_count > 0"
        return indexes

    def _index(self, *fields: str) -> tuple[str, str]:
        columns = [self.column(field) for field in fields]
        name = f"ix_{self.name}_{'_'.join(columns)}"
        return name, f"CREATE INDEX IF NOT EXISTS {name} ON {self.name} ({', '.join(columns)}, id)"

    def row(self, record: Mapping[str, Any]) -> tuple[*tuple[object, ...], str]:
        """The column values of a record, in `column_fields` order, followed by its JSON body.

        Its date-times must be canonical (`format_instant`), as everything the sandbox stores is.
        """
        values = [_sort_key(record[name]) if name in _DATETIME_COLUMNS else record[name] for name in self.column_fields]
        return (*values, dump_record(record))

    def insert_sql(self, *, or_ignore: bool = False) -> str:
        columns = [self.column(name) for name in self.column_fields]
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        placeholders = ", ".join("?" * (len(columns) + 1))
        return f"{verb} INTO {self.name} ({', '.join(columns)}, body) VALUES ({placeholders})"

    def update_sql(self) -> str:
        """Set every column but the id, then the body, of the row whose id is the last parameter."""
        assignments = [f"{self.column(name)} = ?" for name in self.column_fields[1:]]
        if self.counts_puts:
            assignments.append("put_count = put_count + 1")
        return f"UPDATE {self.name} SET {', '.join(assignments)}, body = ? WHERE id = ?"  # noqa: S608

    def select_sql(self, what: str, where: str = "", order: str = "") -> str:
        """`SELECT what FROM table [WHERE where] [ORDER BY order]`; `where` may hold `?` parameters."""
        sql = f"SELECT {what} FROM {self.name}"  # noqa: S608
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        return sql


TABLES = {
    table.resource.path: table
    for table in (
        Table(ORCHESTRATOR_SLICE, "orchestrator_slice", "pipelineExecutionId", counts_puts=True),
        Table(EXECUTION_SLICE, "execution_slice", "executionId", counts_puts=False),
    )
}


class DuplicateId(Exception):
    """A record with this id is already stored."""


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One list request, in wire field names: equality filters, an optional text search, order and window."""

    filters: dict[str, str]
    text: str | None
    sort_field: str
    descending: bool
    offset: int
    limit: int


class SliceStore:
    """Both slice resources in one SQLite file; methods take the resource path (`execution-slices`, ...)."""

    def __init__(self, path: str | Path):
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        for table in TABLES.values():
            self._execute_all([table.create_sql(), *table.indexes().values()])

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _execute_all(self, statements: Iterable[str]) -> None:
        with self._transaction() as conn:
            for statement in statements:
                conn.execute(statement)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def count(self, path: str) -> int:
        with self._connection() as conn:
            row: tuple[int] = conn.execute(TABLES[path].select_sql("count(*)")).fetchone()
        return row[0]

    def is_empty(self) -> bool:
        return all(self.count(path) == 0 for path in TABLES)

    def get(self, path: str, record_id: str) -> str | None:
        """The stored JSON text of one record, or None."""
        with self._connection() as conn:
            row: tuple[str] | None = conn.execute(TABLES[path].select_sql("body", "id = ?"), (record_id,)).fetchone()
        return row[0] if row else None

    def insert(self, path: str, record: Mapping[str, Any]) -> str:
        """Store a new record and return its JSON text; raise DuplicateId if its id is taken."""
        table = TABLES[path]
        row = table.row(record)
        with self._transaction() as conn:
            try:
                conn.execute(table.insert_sql(), row)
            except sqlite3.IntegrityError as error:
                raise DuplicateId(record["id"]) from error
        return row[-1]

    def insert_many(self, path: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Bulk-insert records, skipping ids already stored; return how many were inserted.

        Into an empty table the secondary indexes are dropped first and built once at the end: several times
        faster than maintaining them row by row.
        """
        table = TABLES[path]
        sql = table.insert_sql(or_ignore=True)
        rebuild_indexes = self.count(path) == 0
        if rebuild_indexes:
            self._execute_all([f"DROP INDEX IF EXISTS {name}" for name in table.indexes()])
        inserted = 0
        try:
            for batch in batched(records, _INSERT_BATCH):
                with self._transaction() as conn:
                    before = conn.total_changes
                    conn.executemany(sql, [table.row(record) for record in batch])
                    inserted += conn.total_changes - before
        finally:
            if rebuild_indexes:
                self._execute_all(table.indexes().values())
        return inserted

    def update(self, path: str, record_id: str, change: Callable[[dict[str, Any]], Mapping[str, Any]]) -> str | None:
        """Replace a record atomically by `change(stored record)`; return the new JSON, or None if unknown.

        Whatever `change` raises aborts the update and propagates.
        """
        table = TABLES[path]
        with self._transaction() as conn:
            row: tuple[str] | None = conn.execute(table.select_sql("body", "id = ?"), (record_id,)).fetchone()
            if row is None:
                return None
            *columns, body = table.row(change(json.loads(row[0])))
            conn.execute(table.update_sql(), (*columns[1:], body, record_id))
        return body

    def page(self, path: str, query: PageQuery) -> tuple[int, list[str]]:
        """The total number of matching records and the JSON texts of the requested window."""
        table = TABLES[path]
        conditions = [f"{table.column(name)} = ?" for name in query.filters]
        parameters: list[object] = list(query.filters.values())
        if query.text:
            conditions.append("body LIKE ? ESCAPE '\\'")
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parameters.append(f"%{escaped}%")
        where = " AND ".join(conditions)
        direction = "DESC" if query.descending else "ASC"
        order = f"{table.column(query.sort_field)} {direction}"
        if query.sort_field != "id":
            order += f", id {direction}"
        with self._connection() as conn:
            count_row: tuple[int] = conn.execute(table.select_sql("count(*)", where), parameters).fetchone()
            rows: list[tuple[str]] = conn.execute(
                table.select_sql("body", where, order) + " LIMIT ? OFFSET ?",
                (*parameters, query.limit, query.offset),
            ).fetchall()
        return count_row[0], [row[0] for row in rows]

    def put_counts(self) -> dict[str, int]:
        """How many accepted PUTs each orchestrator slice has had (only those with any)."""
        sql = TABLES[ORCHESTRATOR_SLICE.path].select_sql("id, put_count", "put_count > 0", "id")
        with self._connection() as conn:
            rows: list[tuple[str, int]] = conn.execute(sql).fetchall()
        return dict(rows)
