"""Backups and restores: one archive that holds the database and every uploaded file.

An archive is a tar file (gzip-compressed unless asked otherwise) named
``bihuan-<site>-<UTC timestamp>.tar.gz`` with these members:

* ``manifest.json``: the format version, Bihuan's version, the database vendor, the migrations
  applied per app, when the archive was made, and every other member with its size and SHA-256;
* ``database.sqlite3`` (SQLite's online backup API: a consistent copy of a database that the
  application may be writing to, WAL or not) or ``database.pgdump`` (``pg_dump --format=custom``);
* ``media/<name>``: every file of the default storage, read through Django's storage API, so an
  S3 bucket is saved as well as a folder. Static files are never included.

The database is dumped before the files are read. A row that points at a file is committed only
after the file is stored, so every file the dump refers to exists by the time the files are walked;
a file uploaded during the backup may be saved without a row, which is harmless.

A restore checks the whole archive against its manifest before anything is touched, refuses a
dump of the other vendor, an archive made by a newer Bihuan, and a target database or storage that
is not empty (unless forced). It then restores the database, writes the files back through the
storage, and runs ``migrate`` when the code is newer than the archive.

django-dbbackup was considered: it writes the database and the media as two archives, without a
manifest of checksums to verify before restoring, and restores over a non-empty database without
asking. What is needed here is tarfile, hashlib and the two PostgreSQL tools, so it is written here.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import io
import json
import os
import posixpath
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from bihuan.audit.services import event_record

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEDIA_PREFIX = "media/"
DUMP_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
PG_LIB = Path("/usr/lib/postgresql")
_CHUNK = 1024 * 1024
_SITE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class BackupError(Exception):
    """A backup or restore that was refused or failed, with a message for the operator."""


@dataclass(frozen=True)
class BackupReport:
    """What ``backup_make`` wrote: the archive, its manifest, its size and digest."""

    path: Path
    manifest: dict[str, Any]
    size: int
    sha256: str


@dataclass
class RestoreReport:
    """What ``backup_restore`` did."""

    archive: Path
    manifest: dict[str, Any]
    replaced: bool = False
    files_written: int = 0
    files_present: int = 0
    migrated: list[str] = field(default_factory=list)
    tables: int = 0
    rows: int = 0


# --------------------------------------------------------------------------- shared helpers


def bihuan_version() -> str:
    """The installed version of Bihuan (``unknown`` when it runs from an uninstalled tree)."""
    try:
        return importlib.metadata.version("bihuan")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def default_site() -> str:
    """The site name used in archive names when none is given: this machine's host name."""
    return socket.gethostname() or "site"


def archive_name(site: str, at: datetime.datetime, *, compress: bool = True) -> str:
    """``bihuan-<site>-<YYYYMMDDTHHMMSSZ>.tar[.gz]``; the site is reduced to safe characters."""
    safe = _SITE_UNSAFE.sub("-", site).strip("-.") or "site"
    stamp = at.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"bihuan-{safe}-{stamp}.tar" + (".gz" if compress else "")


def _digest(stream: IO[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _file_digest(path: Path) -> tuple[int, str]:
    with path.open("rb") as stream:
        return _digest(stream)


def _connection() -> BaseDatabaseWrapper:
    return connections[DEFAULT_DB_ALIAS]


def _vendor(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in DUMP_NAMES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")
    return connection.vendor


def migration_state(connection: BaseDatabaseWrapper) -> dict[str, list[str]]:
    """The migrations applied to the database, per app, sorted."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return {}
    state: dict[str, list[str]] = {}
    for app, name in sorted(recorder.applied_migrations()):
        state.setdefault(app, []).append(name)
    return state


def _known_migrations() -> set[tuple[str, str]]:
    """Every migration this code has, including those a squashed migration replaces."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    for migration in loader.disk_migrations.values():
        known.update(migration.replaces)
    return known


def table_row_counts(connection: BaseDatabaseWrapper | None = None) -> dict[str, int]:
    """The number of rows of every table in the database, by table name."""
    connection = connection or _connection()
    quote = connection.ops.quote_name
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 (a table name)
            counts[table] = int(cursor.fetchone()[0])
    return counts


def _static_folder(storage: Storage) -> str | None:
    """STATIC_ROOT relative to a file-system storage's folder, when it lies inside it."""
    location = getattr(storage, "location", None)
    static_root = getattr(settings, "STATIC_ROOT", None)
    if not location or not static_root:
        return None
    try:
        relative = Path(static_root).resolve().relative_to(Path(location).resolve())
    except ValueError:
        return None
    return relative.as_posix()


def media_names(storage: Storage | None = None) -> Iterator[str]:
    """The name of every file in the storage, walking ``listdir`` from the top, sorted."""
    storage = storage or default_storage
    skip = _static_folder(storage)

    def walk(folder: str) -> Iterator[str]:
        try:
            folders, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        for name in sorted(files):
            yield posixpath.join(folder, name) if folder else name
        for name in sorted(folders):
            path = posixpath.join(folder, name) if folder else name
            if path != skip:
                yield from walk(path)

    return walk("")


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


# --------------------------------------------------------------------------- PostgreSQL tools


def _tool_major(binary: Path) -> int | None:
    try:
        done = subprocess.run(  # noqa: S603 (a PostgreSQL binary we located)
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    found = re.search(r"\)\s+(\d+)", done.stdout)
    return int(found.group(1)) if found else None


def pg_tool(name: str, server_major: int, *, lib: Path = PG_LIB) -> Path:
    """``pg_dump`` or ``pg_restore`` of the server's major version, or the nearest newer one.

    Debian installs each version's tools in /usr/lib/postgresql/<major>/bin; the one on PATH is a
    wrapper or whatever version was installed. An older tool cannot dump a newer server, and a
    newer tool's archive may be unreadable by an older one, so the exact version comes first.
    """
    exact = lib / str(server_major) / "bin" / name
    if os.access(exact, os.X_OK):
        return exact
    candidates: list[Path] = []
    if lib.is_dir():
        newer = [p for p in lib.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()]
        candidates += sorted(newer, key=lambda p: int(p.parent.parent.name))
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        major = _tool_major(candidate)
        if major is not None and major >= server_major:
            return candidate
    raise BackupError(
        f"{name} for PostgreSQL {server_major} was not found (looked for {exact} and on PATH). "
        f"Install the client tools of the server's version, e.g. "
        f"`apt-get install postgresql-client-{server_major}`."
    )


def pg_environment(settings_dict: dict[str, Any]) -> dict[str, str]:
    """The child process's environment: libpq variables, so no secret is on the command line.

    A password in argv is visible to every user of the machine (``ps``); PGPASSWORD is not.
    """
    env = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        value = settings_dict.get(key)
        env.pop(variable, None)
        if value:
            env[variable] = str(value)
    options = settings_dict.get("OPTIONS") or {}
    for option, variable in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
    ):
        if options.get(option):
            env[variable] = str(options[option])
    return env


def _pg_run(argv: list[str], settings_dict: dict[str, Any], what: str) -> None:
    done = subprocess.run(  # noqa: S603 (located binaries, arguments from settings)
        argv, env=pg_environment(settings_dict), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit status {done.returncode}): {done.stderr.strip()}")


def _server_major(connection: BaseDatabaseWrapper) -> int:
    connection.ensure_connection()
    return int(connection.pg_version) // 10000  # type: ignore[attr-defined]


def pg_dump_argv(binary: Path, settings_dict: dict[str, Any], target: Path) -> list[str]:
    """The pg_dump command line: custom format, to a file, the database by name only."""
    return [str(binary), "--format=custom", f"--file={target}", str(settings_dict["NAME"])]


def pg_restore_argv(
    binary: Path, settings_dict: dict[str, Any], dump: Path, *, replace: bool
) -> list[str]:
    """The pg_restore command line: one transaction, stop at the first error.

    ``--no-owner``/``--no-acl``: the roles of the machine the dump came from may not exist here;
    the restored objects belong to the user who restores. ``--clean --if-exists`` (only when the
    database is not empty) drops each object before it is created again. The audit triggers
    refuse UPDATE, DELETE and TRUNCATE on the event table, never DROP TABLE, so a clean restore
    replaces the event table whole; into an empty database the rows are loaded before the
    triggers are created.
    """
    argv = [
        str(binary),
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={settings_dict['NAME']}",
    ]
    if replace:
        argv += ["--clean", "--if-exists"]
    return [*argv, str(dump)]


# --------------------------------------------------------------------------- backup


def sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy a SQLite database that may be in use into ``target`` with SQLite's backup API.

    A connection of our own, read-only, so a wrong path never creates an empty database. One
    step (pages=-1) reads one snapshot: in WAL mode the application's writers go on meanwhile,
    and none of their half-done transactions is in the copy.
    """
    source = Path(source).resolve()
    if not source.is_file():
        raise BackupError(f"The SQLite database {source} does not exist.")
    reader = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            reader.backup(copy)
        finally:
            copy.close()
    finally:
        reader.close()


def _dump_postgresql(connection: BaseDatabaseWrapper, target: Path) -> None:
    binary = pg_tool("pg_dump", _server_major(connection))
    settings_dict = connection.settings_dict
    _pg_run(pg_dump_argv(binary, settings_dict, target), settings_dict, "pg_dump")


def _entry(name: str, path: Path) -> dict[str, Any]:
    size, sha256 = _file_digest(path)
    return {"name": name, "size": size, "sha256": sha256}


def backup_make(
    *,
    directory: Path,
    site: str | None = None,
    compress: bool = True,
    storage: Storage | None = None,
) -> BackupReport:
    """Write one archive of the database and the uploaded files into ``directory``.

    The archive appears under its final name only once it is complete (written as ``.partial``,
    then renamed), readable by its owner only: it holds every personal record of the system.
    """
    connection = _connection()
    vendor = _vendor(connection)
    storage = storage or default_storage
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    created = timezone.now()
    name = archive_name(site or default_site(), created, compress=compress)
    final = directory / name
    if final.exists():
        raise BackupError(f"{final} already exists.")
    with tempfile.TemporaryDirectory(prefix=".bihuan-backup-", dir=directory) as scratch:
        staging = Path(scratch)
        migrations = migration_state(connection)
        dump = staging / DUMP_NAMES[vendor]
        if vendor == "sqlite":
            sqlite_snapshot(Path(connection.settings_dict["NAME"]), dump)
        else:
            _dump_postgresql(connection, dump)
        entries = [_entry(dump.name, dump)]
        for media in media_names(storage):
            if not _safe_member(media):
                raise BackupError(f"The storage holds a file with an unsafe name: {media!r}.")
            local = staging / MEDIA_PREFIX / media
            local.parent.mkdir(parents=True, exist_ok=True)
            with storage.open(media, "rb") as source, local.open("wb") as copy:
                shutil.copyfileobj(source, copy, _CHUNK)
            entries.append(_entry(MEDIA_PREFIX + media, local))
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "bihuan_version": bihuan_version(),
            "created_at": created.astimezone(datetime.UTC).isoformat(),
            "site": site or default_site(),
            "database": {"vendor": vendor, "dump": dump.name},
            "migrations": migrations,
            "files": entries,
        }
        partial = directory / f"{name}.partial"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with (
                os.fdopen(descriptor, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w:gz" if compress else "w") as tar,
            ):
                body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), int(created.timestamp()), 0o600
                tar.addfile(info, io.BytesIO(body))
                for entry in entries:
                    tar.add(staging / entry["name"], arcname=entry["name"], recursive=False)
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    size, sha256 = _file_digest(final)
    with transaction.atomic():
        event_record(
            actor=None,
            actor_label="system",
            verb="backup_made",
            object_type="backup",
            object_id=name[:64],
            object_repr=name,
            after={
                "archive": name,
                "size": size,
                "sha256": sha256,
                "vendor": vendor,
                "files": len(entries) - 1,
            },
        )
    return BackupReport(path=final, manifest=manifest, size=size, sha256=sha256)


# --------------------------------------------------------------------------- restore


def _refuse_corrupt(archive: Path, detail: str) -> BackupError:
    return BackupError(f"{archive.name} is corrupt or incomplete ({detail}); nothing was restored.")


def archive_open(archive: Path, into: Path) -> dict[str, Any]:
    """Unpack the archive into ``into`` and check every member against the manifest.

    Returns the manifest. A member that is missing, extra, of another size or digest, not a
    plain file or with a path leaving the folder refuses the whole archive.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist.")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                if not member.isfile() or not _safe_member(member.name):
                    raise _refuse_corrupt(archive, f"unexpected member {member.name!r}")
            names = [m.name for m in members]
            if len(names) != len(set(names)):
                raise _refuse_corrupt(archive, "a member appears twice")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _refuse_corrupt(archive, f"cannot be read: {exc}") from None
    try:
        manifest = json.loads((into / MANIFEST).read_text())
        entries = {entry["name"]: entry for entry in manifest["files"]}
        vendor = manifest["database"]["vendor"]
        dump = manifest["database"]["dump"]
        version = manifest["format"]
        if not isinstance(manifest["migrations"], dict):
            raise TypeError("migrations is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _refuse_corrupt(archive, f"no readable manifest: {exc!r}") from None
    if version != FORMAT_VERSION:
        raise BackupError(
            f"{archive.name} is in backup format {version}; this Bihuan reads format "
            f"{FORMAT_VERSION}."
        )
    if DUMP_NAMES.get(vendor) != dump or dump not in entries:
        raise _refuse_corrupt(archive, "the manifest names no database dump")
    present = set(names) - {MANIFEST}
    if missing := sorted(set(entries) - present):
        raise _refuse_corrupt(archive, f"missing {', '.join(missing[:5])}")
    if extra := sorted(present - set(entries)):
        raise _refuse_corrupt(archive, f"not in the manifest: {', '.join(extra[:5])}")
    for name, entry in entries.items():
        if not _safe_member(name) or not (name == dump or name.startswith(MEDIA_PREFIX)):
            raise _refuse_corrupt(archive, f"unexpected member {name!r}")
        size, sha256 = _file_digest(into / name)
        if size != entry["size"] or sha256 != entry["sha256"]:
            raise _refuse_corrupt(archive, f"checksum mismatch for {name}")
    return manifest


def database_is_empty(connection: BaseDatabaseWrapper | None = None) -> bool:
    """True when the database has no tables at all (not even Django's own)."""
    connection = connection or _connection()
    if connection.vendor == "sqlite" and not Path(connection.settings_dict["NAME"]).exists():
        return True  # connecting would create the file, or fail where its folder is missing
    with connection.cursor() as cursor:
        return not connection.introspection.table_names(cursor)


def _restore_sqlite(connection: BaseDatabaseWrapper, dump: Path) -> None:
    # Copied through SQLite's backup API rather than over the file: it takes the target's locks,
    # and a stale -wal file next to the target can never be replayed onto the restored pages.
    target = Path(connection.settings_dict["NAME"]).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    connection.close()
    source = sqlite3.connect(f"{dump.resolve().as_uri()}?mode=ro", uri=True)
    try:
        verdict = source.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"The archived SQLite database fails its integrity check: {verdict}")
        copy = sqlite3.connect(target, timeout=30)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


def pg_dump_tables(binary: Path, dump: Path) -> set[str]:
    """The tables of a custom-format dump, from its table of contents (``pg_restore --list``)."""
    done = subprocess.run(  # noqa: S603 (a located binary and our own file)
        [str(binary), "--list", str(dump)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore --list failed: {done.stderr.strip()}")
    found = re.findall(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", done.stdout, flags=re.MULTILINE)
    return set(found)


def _refuse_leftover_tables(connection: BaseDatabaseWrapper, binary: Path, dump: Path) -> None:
    # --clean drops and re-creates what the dump holds, nothing else. A table the archive lacks
    # (one a newer migration made) would outlive the restore and make the next migrate fail, so
    # it is refused up front rather than dropped outside the restore's single transaction.
    with connection.cursor() as cursor:
        here = set(connection.introspection.table_names(cursor))
    if extra := sorted(here - pg_dump_tables(binary, dump)):
        raise BackupError(
            f"The database {connection.settings_dict['NAME']} has tables the archive does not "
            f"({', '.join(extra[:5])}). Drop and re-create the database, then restore into it "
            "empty."
        )


def _restore_postgresql(
    connection: BaseDatabaseWrapper, binary: Path, dump: Path, *, replace: bool
) -> None:
    settings_dict = connection.settings_dict
    # Our own session would hold locks that the restore's DROPs wait for.
    connection.close()
    argv = pg_restore_argv(binary, settings_dict, dump, replace=replace)
    _pg_run(argv, settings_dict, "pg_restore")


def _storage_digest(storage: Storage, name: str) -> str:
    with storage.open(name, "rb") as stream:
        return _digest(stream)[1]


def files_restore(storage: Storage, root: Path, entries: list[dict[str, Any]]) -> tuple[int, int]:
    """Write the archive's files (unpacked under ``root``) through the storage.

    Returns (written, already there with the same digest).
    """
    written = present = 0
    for entry in entries:
        if not entry["name"].startswith(MEDIA_PREFIX):
            continue
        name = entry["name"][len(MEDIA_PREFIX) :]
        if storage.exists(name):
            if _storage_digest(storage, name) == entry["sha256"]:
                present += 1
                continue
            # Reached only with --force: the archive's copy replaces the file of the same name.
            storage.delete(name)
        with (root / entry["name"]).open("rb") as stream:
            saved = storage.save(name, File(stream, name=posixpath.basename(name)))
        if saved != name:
            raise BackupError(f"The storage saved {name} as {saved}; restore stopped.")
        written += 1
    return written, present


def backup_restore(
    archive: Path, *, force: bool = False, storage: Storage | None = None
) -> RestoreReport:
    """Restore the database and the files of an archive made by ``backup_make``.

    Every check runs before the first change: the archive against its manifest, the vendor, the
    migrations (an archive of a newer Bihuan is refused), and, unless ``force``, that the
    database has no tables and the storage no files.
    """
    connection = _connection()
    vendor = _vendor(connection)
    storage = storage or default_storage
    archive = Path(archive)
    with tempfile.TemporaryDirectory(prefix="bihuan-restore-") as scratch:
        root = Path(scratch)
        manifest = archive_open(archive, root)
        theirs = manifest["database"]["vendor"]
        if theirs != vendor:
            raise BackupError(
                f"{archive.name} holds a {theirs} database; this site runs on {vendor}. "
                "Restore it on a site of the same database, or move the data with dumpdata/"
                "loaddata."
            )
        applied = {(app, name) for app, names in manifest["migrations"].items() for name in names}
        unknown = sorted(applied - _known_migrations())
        if unknown:
            listed = ", ".join(f"{app}.{name}" for app, name in unknown[:5])
            raise BackupError(
                f"{archive.name} was made by a newer Bihuan ({manifest['bihuan_version']}): "
                f"this code does not know the migrations {listed}. Install that version first."
            )
        empty = database_is_empty(connection)
        files_here = next(iter(media_names(storage)), None)
        if not force:
            if not empty:
                raise BackupError(
                    f"The database {connection.settings_dict['NAME']} is not empty. Restore "
                    "into an empty database, or pass --force to replace everything in it."
                )
            if files_here is not None:
                raise BackupError(
                    f"The file storage is not empty (it holds {files_here}). Restore into an "
                    "empty storage, or pass --force to write the archive's files over it."
                )
        dump = root / manifest["database"]["dump"]
        pg_restore = None
        if vendor == "postgresql":
            pg_restore = pg_tool("pg_restore", _server_major(connection))
            if not empty:
                _refuse_leftover_tables(connection, pg_restore, dump)
        report = RestoreReport(archive=archive, manifest=manifest, replaced=not empty)
        if pg_restore is None:
            _restore_sqlite(connection, dump)
        else:
            _restore_postgresql(connection, pg_restore, dump, replace=not empty)
        report.files_written, report.files_present = files_restore(storage, root, manifest["files"])
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        report.migrated = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
        call_command("migrate", interactive=False, verbosity=0)
    counts = table_row_counts(connection)
    report.tables, report.rows = len(counts), sum(counts.values())
    with transaction.atomic():
        event_record(
            actor=None,
            actor_label="system",
            verb="backup_restored",
            object_type="backup",
            object_id=archive.name[:64],
            object_repr=archive.name,
            after={
                "archive": archive.name,
                "created_at": manifest["created_at"],
                "bihuan_version": manifest["bihuan_version"],
                "vendor": vendor,
                "replaced": report.replaced,
                "files_written": report.files_written,
                "files_present": report.files_present,
                "migrated": report.migrated,
            },
        )
    return report
