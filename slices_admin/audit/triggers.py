"""Database triggers that refuse UPDATE and DELETE on the audit table, for SQLite and PostgreSQL.

Installed by a migration, so the guarantee holds for raw SQL and for any process, not only for this code.
"""

TABLE = "audit_auditentry"
MESSAGE = "audit entries are append-only"

_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_no_{event.lower()} BEFORE {event} ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    for event in ("UPDATE", "DELETE")
]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_no_update", "DROP TRIGGER IF EXISTS audit_no_delete"]

_POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""",
    f"""CREATE OR REPLACE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    f"""CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
]
_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS audit_no_update_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE}",
]


def _statements(vendor: str, *, drop: bool) -> list[str]:
    if vendor == "sqlite":
        return _SQLITE_DROP if drop else _SQLITE
    if vendor == "postgresql":
        return _POSTGRES_DROP if drop else _POSTGRES
    raise NotImplementedError(f"No append-only triggers for the {vendor} database.")


def install(connection) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, drop=False):
            cursor.execute(statement)


def remove(connection) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, drop=True):
            cursor.execute(statement)
