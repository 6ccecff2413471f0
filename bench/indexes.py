"""Before anything is measured: the database's indexes are exactly those a fresh `migrate` builds.

A benchmark database outlives the code that seeded it, and a seeder that rebuilt an index in another form (an index
without the `NULLS FIRST` the lists' sorts need, say) makes every figure measured on it a figure of another
console. So each benchmark migrates a scratch database of the same kind with the current code, reads its index
definitions (`pg_indexes` on PostgreSQL, `sqlite_master` on SQLite) and refuses to measure when the database it is
about to measure differs.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

from bench import ROOT

_POSTGRES = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
_SQLITE = "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"


class IndexesDiffer(SystemExit):
    """The database's indexes are not a fresh migrate's: the message lists each difference."""


def definitions(cursor, vendor: str) -> dict[tuple[str, str], str]:
    """(table, index) → its definition, for every index of the database `cursor` reads."""
    cursor.execute(_POSTGRES if vendor == "postgresql" else _SQLITE)
    return {(table, name): " ".join(definition.split()) for table, name, definition in cursor.fetchall()}


def _migrated(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "slices_admin.settings"}
    command = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        raise RuntimeError(f"migrate into a scratch database failed:\n{done.stderr[-3000:]}")


def _fresh_postgres() -> dict[tuple[str, str], str]:
    import psycopg
    from psycopg import sql

    url = os.environ["DATABASE_URL"]
    scratch = f"{connection.settings_dict['NAME']}_index_check"
    scratch_url = urlunsplit(urlsplit(url)._replace(path=f"/{scratch}"))
    server = psycopg.connect(url, autocommit=True)
    try:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        _migrated(scratch_url)
        with psycopg.connect(scratch_url) as fresh:
            return definitions(fresh.cursor(), "postgresql")
    finally:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        server.close()


def _fresh_sqlite() -> dict[tuple[str, str], str]:
    import sqlite3

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fresh.sqlite3"
        _migrated(f"sqlite:///{path}")
        fresh = sqlite3.connect(path)
        try:
            return definitions(fresh.cursor(), "sqlite")
        finally:
            fresh.close()


def differences() -> list[str]:
    """How this database's indexes differ from a fresh migrate's (nothing: they are the same)."""
    vendor = connection.vendor
    expected = _fresh_postgres() if vendor == "postgresql" else _fresh_sqlite()
    with connection.cursor() as cursor:
        present = definitions(cursor, vendor)
    found = []
    for key in sorted(expected.keys() | present.keys()):
        table, _name = key
        if key not in present:
            found.append(f"missing on {table}: {expected[key]}")
        elif key not in expected:
            found.append(f"not made by migrate, on {table}: {present[key]}")
        elif present[key] != expected[key]:
            found.append(f"different on {table}: {present[key]}\n      a fresh migrate makes: {expected[key]}")
    return found


def check(log=print) -> None:
    """Refuse to measure (exit) unless the database's indexes are exactly a fresh migrate's."""
    found = differences()
    if found:
        listed = "\n".join(f"  - {line}" for line in found)
        raise IndexesDiffer(
            f"Not measuring: this database's indexes are not those a fresh `migrate` builds ({len(found)} "
            f"differences):\n{listed}\nStart the benchmark database over (delete it), or migrate it, then run "
            "again."
        )
    log("Indexes: exactly those a fresh migrate builds.")
