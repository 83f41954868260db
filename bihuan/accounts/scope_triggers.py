"""Database triggers that bump a user's scope stamp whenever their scope may have changed.

An assignment inserted, updated or deleted bumps its user's stamp (both users if it moved); a
region whose path changes bumps every stamp. Being in the database, the rule holds for every
writer: services, bulk loaders, migrations and raw SQL alike.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

_BUMP_NEW = (
    "INSERT OR IGNORE INTO accounts_scopestamp (user_id, version) VALUES (NEW.user_id, 0); "
    "UPDATE accounts_scopestamp SET version = version + 1 WHERE user_id = NEW.user_id;"
)
_BUMP_OLD = _BUMP_NEW.replace("NEW.", "OLD.")


_SQLITE_INSTALL = [
    "CREATE TRIGGER IF NOT EXISTS scope_assignment_insert AFTER INSERT ON accounts_assignment "
    "BEGIN " + _BUMP_NEW + " END",
    "CREATE TRIGGER IF NOT EXISTS scope_assignment_update AFTER UPDATE ON accounts_assignment "
    "BEGIN " + _BUMP_OLD + " " + _BUMP_NEW + " END",
    "CREATE TRIGGER IF NOT EXISTS scope_assignment_delete AFTER DELETE ON accounts_assignment "
    "BEGIN " + _BUMP_OLD + " END",
    """CREATE TRIGGER IF NOT EXISTS scope_region_path AFTER UPDATE OF path ON territory_region
        WHEN OLD.path IS NOT NEW.path
        BEGIN UPDATE accounts_scopestamp SET version = version + 1; END""",
]
_SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS scope_assignment_insert",
    "DROP TRIGGER IF EXISTS scope_assignment_update",
    "DROP TRIGGER IF EXISTS scope_assignment_delete",
    "DROP TRIGGER IF EXISTS scope_region_path",
]
_POSTGRES_INSTALL = [
    """CREATE OR REPLACE FUNCTION scope_bump(uid bigint) RETURNS void AS $$
        BEGIN
            INSERT INTO accounts_scopestamp (user_id, version) VALUES (uid, 1)
            ON CONFLICT (user_id) DO UPDATE SET version = accounts_scopestamp.version + 1;
        END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scope_assignment_changed() RETURNS trigger AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM scope_bump(OLD.user_id); END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM scope_bump(NEW.user_id); END IF;
            RETURN NULL;
        END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION scope_region_moved() RETURNS trigger AS $$
        BEGIN
            UPDATE accounts_scopestamp SET version = version + 1;
            RETURN NULL;
        END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS scope_assignment_changed ON accounts_assignment",
    """CREATE TRIGGER scope_assignment_changed
        AFTER INSERT OR UPDATE OR DELETE ON accounts_assignment
        FOR EACH ROW EXECUTE FUNCTION scope_assignment_changed()""",
    "DROP TRIGGER IF EXISTS scope_region_moved ON territory_region",
    """CREATE TRIGGER scope_region_moved AFTER UPDATE OF path ON territory_region
        FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path)
        EXECUTE FUNCTION scope_region_moved()""",
]
_POSTGRES_REMOVE = [
    "DROP TRIGGER IF EXISTS scope_assignment_changed ON accounts_assignment",
    "DROP TRIGGER IF EXISTS scope_region_moved ON territory_region",
    "DROP FUNCTION IF EXISTS scope_assignment_changed()",
    "DROP FUNCTION IF EXISTS scope_region_moved()",
    "DROP FUNCTION IF EXISTS scope_bump(bigint)",
]


def _statements(connection: BaseDatabaseWrapper, install: bool) -> list[str]:
    if connection.vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_REMOVE
    if connection.vendor == "postgresql":
        return _POSTGRES_INSTALL if install else _POSTGRES_REMOVE
    raise NotImplementedError(f"no scope triggers for {connection.vendor}")


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers (idempotent) and stamp every user who holds an assignment."""
    with connection.cursor() as cursor:
        for statement in _statements(connection, install=True):
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO accounts_scopestamp (user_id, version) "
            "SELECT DISTINCT user_id, 1 FROM accounts_assignment "
            "WHERE user_id NOT IN (SELECT user_id FROM accounts_scopestamp)"
        )


def remove(connection: BaseDatabaseWrapper) -> None:
    """Drop the triggers."""
    with connection.cursor() as cursor:
        for statement in _statements(connection, install=False):
            cursor.execute(statement)
