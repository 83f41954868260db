"""Backup and restore end to end: `manage.py backup` of the demo city, restored elsewhere.

The demo city (with its year of history, a lead's evidence and an inspection photo) is committed
to the test database; `manage.py backup` runs in a child process against it, `manage.py restore`
in another against a new empty database (SQLite: a new file; PostgreSQL: a new database) and an
empty media folder. Then each side is read by a third process: the row count of every table, the
headline figures of the city and a district, `check_loop` and `check_figures`; and the restored
files must hash as the originals. The refusals (a corrupt or truncated archive, a non-empty
target, the other vendor's archive) are made against the same kind of empty target, which must
still be empty afterwards.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

from bihuan.accounts.models import User
from bihuan.core import backup
from bihuan.leads import services as lead_services
from bihuan.leads.demo import TIP, load_demo_leads
from bihuan.leads.models import Lead
from bihuan.registry.demo import load_demo_registry
from bihuan.reports import rollups
from bihuan.reports.demo import load_demo_history
from bihuan.screening import inspection_services
from bihuan.screening.demo import load_demo_screening
from bihuan.screening.models import TaskItem

BASE_DIR = Path(settings.BASE_DIR)
PDF = b"%PDF-1.4\n" + b"0" * 256

# Read by a child process against DATABASE_URL: everything the comparison looks at, as JSON.
SNAPSHOT = r"""
import dataclasses, datetime, io, json
import django
django.setup()
from django.core.management import call_command
from django.utils import timezone
from bihuan.core.backup import table_row_counts
from bihuan.audit.models import Event
from bihuan.reports import figures
from bihuan.reports.scope import FigureScope
from bihuan.territory.models import Region

def run(name, *args):
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, no_color=True)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return {"status": status, "output": out.getvalue()}

counts = table_row_counts()
counts["audit_event"] -= Event.objects.filter(verb__startswith="backup_").count()
today = timezone.localdate()
start = datetime.date(today.year, 1, 1)
heads = {}
for code in ("420900", "420902"):
    region = Region.objects.get(code=code)
    scope = FigureScope("region", region.pk, region.name, region.path)
    heads[code] = {
        "headline": dataclasses.asdict(figures.headline(scope, start, today)),
        "recount": dataclasses.asdict(figures.recount(scope, start, today)),
    }
print(json.dumps({
    "backup_events": list(
        Event.objects.filter(verb__startswith="backup_").values_list("verb", "actor_label")
    ),
    "counts": counts,
    "figures": heads,
    "check_loop": run("check_loop"),
    "check_figures": run("check_figures"),
}))
"""


@dataclass(frozen=True)
class Target:
    """A database and a media folder for a child process to work on."""

    url: str
    media: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PG"))}
        env.pop("FILE_STORAGE", None)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.base",
            DATABASE_URL=self.url,
            MEDIA_ROOT=str(self.media),
        )
        return env


def manage(target: Target, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=target.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def snapshot(target: Target) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SNAPSHOT],
        cwd=BASE_DIR,
        env=target.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def media_hashes(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _pg_url(settings_dict: dict[str, Any], name: str) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = settings_dict.get("PORT") or 5432
    return f"postgresql://{auth}{host}:{port}/{name}"


def current_url() -> str:
    """The URL of the database this test process writes to (the test database)."""
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(connection.settings_dict['NAME']).resolve()}"
    return _pg_url(connection.settings_dict, connection.settings_dict["NAME"])


@pytest.fixture
def empty_target(tmp_path: Path) -> Iterator[Target]:
    """A database with no tables and an empty media folder, gone after the test."""
    media = tmp_path / "media-restored"
    media.mkdir()
    if connection.vendor == "sqlite":
        yield Target(f"sqlite:///{tmp_path / 'restored.sqlite3'}", media)
        return
    name = f"bihuan_restore_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _pg_url(connection.settings_dict, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Target(_pg_url(connection.settings_dict, name), media)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tables_of(target: Target) -> list[str]:
    if target.url.startswith("sqlite:"):
        path = Path(target.url.removeprefix("sqlite:///"))
        if not path.exists():
            return []
        with sqlite3.connect(path) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    with psycopg.connect(target.url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema')"
        ).fetchall()
        return [r[0] for r in rows]


def jpeg() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, format="JPEG")
    return SimpleUploadedFile("facade.jpg", out.getvalue(), content_type="image/jpeg")


def _add_uploaded_files() -> None:
    """A lead's evidence (a photo and a PDF) and an inspection photo, through their services."""
    bureau = User.objects.get(username="xiaonan")
    lead = Lead.objects.get(description=TIP)
    evidence = [
        SimpleUploadedFile("scene.jpg", jpeg().read(), content_type="image/jpeg"),
        SimpleUploadedFile("notice.pdf", PDF, content_type="application/pdf"),
    ]
    lead_services.attachment_add(actor=bureau, lead=lead, files=evidence)
    inspector = User.objects.get(username="yangtiezhu")
    item = TaskItem.objects.filter(task__inspector=inspector).order_by("pk").first()
    assert item is not None
    inspection = inspection_services.inspection_start(
        actor=inspector, client_id=uuid.uuid4(), item=item
    )
    inspection_services.photo_add(
        actor=inspector, inspection=inspection, client_id=uuid.uuid4(), question="", upload=jpeg()
    )


@pytest.fixture
def committed_city(
    live_db: None, demo_city: dict[str, int], settings: Any, tmp_path: Path
) -> Target:
    """The demo city with its history and uploaded files, committed; its media folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    load_demo_registry()
    load_demo_leads()
    load_demo_screening()
    load_demo_history()
    _add_uploaded_files()
    # What the scheduler's refresh_figures does every five minutes on a running site.
    rollups.refresh(full=True, lag=datetime.timedelta(0))
    return Target(current_url(), tmp_path / "media")


@pytest.fixture
def small_archive(db: None, settings: Any, tmp_path: Path) -> Path:
    """An archive of the (migrated, committed) test database and two files, made in-process."""
    media = tmp_path / "media-small"
    (media / "evidence").mkdir(parents=True)
    (media / "evidence" / "a.jpg").write_bytes(b"\xff\xd8" + b"a" * 4000)
    (media / "b.pdf").write_bytes(PDF)
    settings.MEDIA_ROOT = media
    return backup.backup_make(directory=tmp_path / "archives", site="test", compress=False).path


def test_restore_into_an_empty_database_gives_the_same_figures_records_and_files(
    committed_city: Target, empty_target: Target, tmp_path: Path
) -> None:
    made = manage(committed_city, "backup", "--output-dir", str(tmp_path / "out"), "--site", "t")
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip().splitlines()[-1])
    assert archive.name.startswith("bihuan-t-") and archive.name.endswith(".tar.gz")
    assert archive.stat().st_mode & 0o077 == 0

    restored = manage(empty_target, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "Files: 3 written, 0 already there." in restored.stdout

    before, after = snapshot(committed_city), snapshot(empty_target)
    assert before["backup_events"] == [["backup_made", "system"]]
    assert after["backup_events"] == [["backup_restored", "system"]]
    assert after["counts"] == before["counts"]
    assert before["counts"]["leads_lead"] > 50  # the year of history is in the comparison
    assert after["figures"] == before["figures"]
    assert before["figures"]["420900"]["headline"]["leads"] > 0
    assert after["check_loop"] == before["check_loop"]
    assert after["check_loop"]["status"] == 0
    assert after["check_figures"] == before["check_figures"]
    assert after["check_figures"]["status"] == 0
    hashes = media_hashes(committed_city.media)
    assert len(hashes) == 3
    assert media_hashes(empty_target.media) == hashes


def _restore_refused(target: Target, archive: Path, *args: str) -> str:
    done = manage(target, "restore", str(archive), *args)
    assert done.returncode != 0
    assert tables_of(target) == []
    assert media_hashes(target.media) == {}
    return done.stderr


def test_a_corrupt_archive_is_refused_and_changes_nothing(
    small_archive: Path, empty_target: Target
) -> None:
    data = bytearray(small_archive.read_bytes())
    offset = data.index(b"a" * 4000) + 2000  # inside the evidence photo's bytes
    data[offset] ^= 0xFF
    small_archive.write_bytes(bytes(data))
    stderr = _restore_refused(empty_target, small_archive, "--force")
    assert "corrupt or incomplete" in stderr
    assert "checksum mismatch for media/evidence/a.jpg" in stderr


def test_a_truncated_archive_is_refused_and_changes_nothing(
    small_archive: Path, empty_target: Target
) -> None:
    data = small_archive.read_bytes()
    small_archive.write_bytes(data[: len(data) // 2])
    stderr = _restore_refused(empty_target, small_archive, "--force")
    assert "corrupt or incomplete" in stderr


def test_an_archive_of_the_other_vendor_is_refused(
    small_archive: Path, empty_target: Target, tmp_path: Path
) -> None:
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    relabelled = tmp_path / "other.tar"
    with tarfile.open(small_archive) as source, tarfile.open(relabelled, "w") as copy:
        for member in source.getmembers():
            body = source.extractfile(member)
            assert body is not None
            content = body.read()
            if member.name == backup.MANIFEST:
                manifest = json.loads(content)
                dump = backup.DUMP_NAMES[other]
                manifest["database"] = {"vendor": other, "dump": dump}
                manifest["files"][0]["name"] = dump
                content = json.dumps(manifest).encode()
            elif member.name == backup.DUMP_NAMES[connection.vendor]:
                member.name = backup.DUMP_NAMES[other]
            member.size = len(content)
            copy.addfile(member, io.BytesIO(content))
    stderr = _restore_refused(empty_target, relabelled, "--force")
    assert f"holds a {other} database; this site runs on {connection.vendor}" in stderr


def test_a_database_that_is_not_empty_is_refused_without_force(
    small_archive: Path, empty_target: Target
) -> None:
    source = Target(current_url(), empty_target.media)
    counts = backup.table_row_counts()
    done = manage(source, "restore", str(small_archive))
    assert done.returncode != 0
    assert "is not empty" in done.stderr
    assert "--force" in done.stderr
    assert backup.table_row_counts() == counts
    assert media_hashes(empty_target.media) == {}


def sql(target: Target, statement: str) -> list[tuple[Any, ...]]:
    if target.url.startswith("sqlite:"):
        with sqlite3.connect(target.url.removeprefix("sqlite:///")) as conn:
            return conn.execute(statement).fetchall()
    with psycopg.connect(target.url, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


STRAY_TYPE = "INSERT INTO django_content_type (app_label, model) VALUES ('stray', 'stray')"
TYPES = "SELECT app_label, model FROM django_content_type ORDER BY app_label, model"


def test_force_puts_a_diverged_database_and_its_files_back(
    small_archive: Path, empty_target: Target
) -> None:
    assert manage(empty_target, "restore", str(small_archive)).returncode == 0
    types, files = sql(empty_target, TYPES), media_hashes(empty_target.media)
    sql(empty_target, STRAY_TYPE)
    (empty_target.media / "b.pdf").write_bytes(b"%PDF-1.4 changed")
    done = manage(empty_target, "restore", "--force", str(small_archive))
    assert done.returncode == 0, done.stderr
    assert "Database (" in done.stdout and "replaced" in done.stdout
    assert "Files: 1 written, 1 already there." in done.stdout
    assert sql(empty_target, TYPES) == types
    assert media_hashes(empty_target.media) == files


def test_force_never_leaves_a_table_the_archive_lacks_beside_the_restored_ones(
    small_archive: Path, empty_target: Target
) -> None:
    assert manage(empty_target, "restore", str(small_archive)).returncode == 0
    sql(empty_target, "CREATE TABLE stray_newer (id integer)")
    sql(empty_target, STRAY_TYPE)
    done = manage(empty_target, "restore", "--force", str(small_archive))
    tables = tables_of(empty_target)
    if connection.vendor == "sqlite":
        # The whole file is replaced: the stray table goes with everything else.
        assert done.returncode == 0, done.stderr
        assert "stray_newer" not in tables
        assert ("stray", "stray") not in sql(empty_target, TYPES)
    else:
        # pg_restore --clean drops only what the dump has: refused before anything changes.
        assert done.returncode != 0
        assert "has tables the archive does not (stray_newer)" in done.stderr
        assert "stray_newer" in tables
        assert ("stray", "stray") in sql(empty_target, TYPES)
