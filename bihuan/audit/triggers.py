"""Database triggers that make the audit tables append-only on SQLite and PostgreSQL.

The application never updates or deletes an event or a seal of the hash chain; the triggers make
the database refuse it too, so that neither a bug nor a stray query can rewrite history. (Someone
who can drop the triggers can still rewrite rows: the hash chain and ``verify_audit`` catch that.)
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

# Table → message of the refusal. The event table keeps the names it was first installed with.
TABLES = {
    "audit_event": "audit events are append-only",
    "audit_seal": "audit seals are append-only",
}


def _sqlite(table: str, message: str, install: bool) -> list[str]:
    if not install:
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_update",
            f"DROP TRIGGER IF EXISTS {table}_no_delete",
        ]
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{message}'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{message}'); END""",
    ]


def _postgres(table: str, message: str, install: bool) -> list[str]:
    drop = [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]
    if not install:
        return drop
    return [
        f"""CREATE OR REPLACE FUNCTION {table}_refuse() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql""",
        *drop,
        f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_refuse()""",
        # TRUNCATE is not seen by row triggers.
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {table}_refuse()""",
    ]


def _statements(connection: BaseDatabaseWrapper, install: bool) -> list[str]:
    if connection.vendor == "sqlite":
        build = _sqlite
    elif connection.vendor == "postgresql":
        build = _postgres
    else:
        raise NotImplementedError(f"no audit triggers for {connection.vendor}")
    # Only the tables that exist: an early migration installs the event table's triggers before
    # the seal table is created, and a later one installs them all.
    existing = set(connection.introspection.table_names())
    return [
        statement
        for table, message in TABLES.items()
        if table in existing
        for statement in build(table, message, install)
    ]


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers on every audit table that exists (idempotent)."""
    with connection.cursor() as cursor:
        for statement in _statements(connection, install=True):
            cursor.execute(statement)


def remove(connection: BaseDatabaseWrapper) -> None:
    """Drop the triggers; used only by the test harness before it empties the database."""
    with connection.cursor() as cursor:
        for statement in _statements(connection, install=False):
            cursor.execute(statement)
