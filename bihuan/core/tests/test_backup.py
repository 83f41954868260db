"""The pieces of backup.py that need no database: names, archive checks, storage walk, pg tools.

The whole round trip (dump, restore, figures) is tests/test_backup_roundtrip.py.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import connection

from bihuan.audit.models import Event
from bihuan.core import backup

SECRET = "s3cr3t-pass word"
SETTINGS = {
    "NAME": "bihuan",
    "USER": "bihuan",
    "PASSWORD": SECRET,
    "HOST": "db.internal",
    "PORT": "5433",
    "OPTIONS": {"sslmode": "require"},
}


def _entry(name: str, body: bytes) -> dict[str, Any]:
    return {"name": name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def write_archive(
    path: Path,
    members: dict[str, bytes],
    *,
    listed: dict[str, bytes] | None = None,
    **manifest: Any,
) -> Path:
    """A tar with a manifest listing ``listed`` (default: the members) and the given members."""
    listed = members if listed is None else listed
    body = {
        "format": backup.FORMAT_VERSION,
        "bihuan_version": "0.1.0",
        "created_at": "2026-11-27T10:00:00+00:00",
        "site": "test",
        "database": {"vendor": "sqlite", "dump": "database.sqlite3"},
        "migrations": {},
        "files": [_entry(name, data) for name, data in listed.items()],
    }
    body.update(manifest)
    with tarfile.open(path, "w") as tar:
        for name, data in {backup.MANIFEST: json.dumps(body).encode(), **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


GOOD = {"database.sqlite3": b"SQLite format 3\x00" + b"x" * 100, "media/evidence/a.jpg": b"jpeg"}


def test_archive_name_carries_the_site_and_the_utc_time() -> None:
    at = datetime.datetime(
        2026, 11, 27, 18, 5, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
    )
    assert backup.archive_name("xiaogan", at) == "bihuan-xiaogan-20261127T100509Z.tar.gz"
    assert backup.archive_name("孝感 / prod", at, compress=False).endswith("20261127T100509Z.tar")
    assert "/" not in backup.archive_name("../../etc", at)


def test_a_sound_archive_opens_with_its_manifest(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "a.tar", GOOD)
    manifest = backup.archive_open(archive, tmp_path / "out")
    assert [e["name"] for e in manifest["files"]] == list(GOOD)
    assert (tmp_path / "out" / "media" / "evidence" / "a.jpg").read_bytes() == b"jpeg"


@pytest.mark.parametrize(
    ("members", "listed", "reason"),
    [
        (
            {**GOOD, "media/evidence/a.jpg": b"jpeg!"},
            GOOD,
            "checksum mismatch for media/evidence/a",
        ),
        ({"database.sqlite3": GOOD["database.sqlite3"]}, GOOD, "missing media/evidence/a.jpg"),
        ({**GOOD, "media/extra.pdf": b"%PDF"}, GOOD, "not in the manifest: media/extra.pdf"),
        ({**GOOD, "../escape": b"x"}, None, "unexpected member '../escape'"),
        ({**GOOD, "settings.py": b"x"}, None, "unexpected member 'settings.py'"),
    ],
    ids=["altered", "missing", "extra", "escaping", "outside-media"],
)
def test_an_archive_that_disagrees_with_its_manifest_is_refused(
    tmp_path: Path, members: dict[str, bytes], listed: dict[str, bytes] | None, reason: str
) -> None:
    archive = write_archive(tmp_path / "a.tar", members, listed=listed)
    with pytest.raises(backup.BackupError, match="corrupt or incomplete") as refused:
        backup.archive_open(archive, tmp_path / "out")
    assert reason in str(refused.value)


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "a.tar", {**GOOD, "media/big.bin": os.urandom(64_000)})
    archive.write_bytes(archive.read_bytes()[:30_000])
    with pytest.raises(backup.BackupError, match="corrupt or incomplete"):
        backup.archive_open(archive, tmp_path / "out")


def test_an_archive_without_a_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("database.sqlite3")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(backup.BackupError, match="no readable manifest"):
        backup.archive_open(path, tmp_path / "out")


def test_an_archive_of_another_format_is_refused(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "a.tar", GOOD, format=backup.FORMAT_VERSION + 1)
    with pytest.raises(backup.BackupError, match="backup format 2"):
        backup.archive_open(archive, tmp_path / "out")


def test_media_names_walk_every_folder_and_leave_static_out(tmp_path: Path, settings: Any) -> None:
    storage = FileSystemStorage(location=tmp_path / "media")
    for name in ("evidence/2026/11/a.jpg", "inspections/b.jpg", "top.pdf", "static/app.css"):
        storage.save(name, ContentFile(b"x"))
    settings.STATIC_ROOT = tmp_path / "media" / "static"
    assert list(backup.media_names(storage)) == [
        "top.pdf",
        "evidence/2026/11/a.jpg",
        "inspections/b.jpg",
    ]


def test_media_names_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert list(backup.media_names(FileSystemStorage(location=tmp_path / "none"))) == []


def test_the_postgresql_password_goes_to_the_environment_never_the_command_line(
    tmp_path: Path,
) -> None:
    binary = Path("/usr/lib/postgresql/15/bin/pg_dump")
    dump = backup.pg_dump_argv(binary, SETTINGS, tmp_path / "d.pgdump")
    restore = backup.pg_restore_argv(binary, SETTINGS, tmp_path / "d.pgdump", replace=True)
    assert not any(SECRET in arg or "s3cr3t" in arg for arg in dump + restore)
    env = backup.pg_environment(SETTINGS)
    assert env["PGPASSWORD"] == SECRET
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"]) == ("db.internal", "5433", "bihuan")
    assert env["PGSSLMODE"] == "require"


def test_an_inherited_pgpassword_is_not_passed_on_when_the_url_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSWORD", "someone-elses")
    assert "PGPASSWORD" not in backup.pg_environment({**SETTINGS, "PASSWORD": ""})


def test_replacing_a_postgresql_database_cleans_before_restoring(tmp_path: Path) -> None:
    binary = Path("pg_restore")
    dump = tmp_path / "d.pgdump"
    fresh = backup.pg_restore_argv(binary, SETTINGS, dump, replace=False)
    replacing = backup.pg_restore_argv(binary, SETTINGS, dump, replace=True)
    for argv in (fresh, replacing):
        assert {"--no-owner", "--single-transaction", "--exit-on-error"} <= set(argv)
    assert "--clean" not in fresh
    assert {"--clean", "--if-exists"} <= set(replacing)


def _fake_tool(path: Path, version: str) -> Path:
    # A real executable standing in for a PostgreSQL tool of a given version.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_pg_tool_takes_the_servers_major_version_first(tmp_path: Path) -> None:
    exact = _fake_tool(tmp_path / "15" / "bin" / "pg_dump", "15.2")
    _fake_tool(tmp_path / "16" / "bin" / "pg_dump", "16.1")
    assert backup.pg_tool("pg_dump", 15, lib=tmp_path) == exact


def test_pg_tool_falls_back_to_a_newer_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _fake_tool(tmp_path / "13" / "bin" / "pg_dump", "13.9")
    newer = _fake_tool(tmp_path / "17" / "bin" / "pg_dump", "17.0")
    assert backup.pg_tool("pg_dump", 15, lib=tmp_path) == newer


def test_pg_tool_names_the_missing_version_and_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _fake_tool(tmp_path / "13" / "bin" / "pg_dump", "13.9")
    with pytest.raises(backup.BackupError, match="pg_dump for PostgreSQL 15 was not found") as e:
        backup.pg_tool("pg_dump", 15, lib=tmp_path)
    assert "postgresql-client-15" in str(e.value)


def test_a_sqlite_snapshot_taken_while_a_writer_commits_holds_whole_transactions_only(
    tmp_path: Path,
) -> None:
    source, copy = tmp_path / "live.sqlite3", tmp_path / "copy.sqlite3"
    with sqlite3.connect(source) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (batch INTEGER, n INTEGER)")
    stop, batches = threading.Event(), [0]

    def write() -> None:
        # Ten rows per transaction: a copy holding a partial batch would show a torn write.
        writer = sqlite3.connect(source, timeout=30, isolation_level=None)
        while not stop.is_set():
            writer.execute("BEGIN IMMEDIATE")
            writer.executemany("INSERT INTO t VALUES (?, ?)", [(batches[0], n) for n in range(10)])
            writer.execute("COMMIT")
            batches[0] += 1
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while batches[0] < 50:
            time.sleep(0.01)
        backup.sqlite_snapshot(source, copy)
        during = batches[0]
        while batches[0] < during + 50:  # the writer was never blocked by the copy
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    with sqlite3.connect(copy) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows, whole = check.execute("SELECT COUNT(*), COUNT(DISTINCT batch) FROM t").fetchone()
    assert rows > 0
    assert rows == whole * 10


def test_a_sqlite_snapshot_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="does not exist"):
        backup.sqlite_snapshot(tmp_path / "nope.sqlite3", tmp_path / "copy.sqlite3")
    assert not (tmp_path / "nope.sqlite3").exists()


@pytest.mark.django_db
def test_an_archive_of_a_newer_bihuan_is_refused_before_the_database_is_looked_at(
    tmp_path: Path,
) -> None:
    vendor = connection.vendor
    dump = backup.DUMP_NAMES[vendor]
    archive = write_archive(
        tmp_path / "a.tar",
        {dump: GOOD["database.sqlite3"]},
        database={"vendor": vendor, "dump": dump},
        migrations={"leads": ["0001_initial", "9999_from_the_future"]},
        bihuan_version="9.0",
    )
    events = Event.objects.count()
    with pytest.raises(backup.BackupError, match=r"newer Bihuan \(9.0\)") as refused:
        backup.backup_restore(archive, force=True)
    assert "leads.9999_from_the_future" in str(refused.value)
    assert "leads.0001_initial" not in str(refused.value)
    assert Event.objects.count() == events
