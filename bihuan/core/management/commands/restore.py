"""manage.py restore: put back the database and the files of a `manage.py backup` archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bihuan.core.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` into the database of DATABASE_URL and "
        "the default file storage. First, before anything is changed: every file of the archive "
        "is checked against the sizes and SHA-256 digests of its manifest (a corrupt or "
        "truncated archive is refused), the archive's database must be of this site's vendor "
        "(SQLite or PostgreSQL), it must not come from a newer Bihuan (migrations this code "
        "does not know), and the database must have no tables and the storage no files, unless "
        "--force. Then the database is restored (SQLite: copied into the configured file through "
        "SQLite's backup API; PostgreSQL: pg_restore --no-owner --no-acl in one transaction, "
        "with --clean --if-exists when replacing), the files are written back through the "
        "storage, `migrate` runs when the code is newer than the archive, a backup_restored "
        "event is written to the audit log and a summary is printed. Stop the web server, the "
        "task worker and the scheduler first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("archive", help="The .tar or .tar.gz written by `manage.py backup`.")
        parser.add_argument(
            "--force",
            action="store_true",
            help=(
                "Replace the contents of a database that is not empty, and write the archive's "
                "files over files of the same name in the storage (files the archive does not "
                "have are left). Everything written to the database since the backup is lost. "
                "On PostgreSQL a database holding tables the archive lacks is still refused: "
                "drop and re-create it, then restore into it empty."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = backup_restore(Path(options["archive"]), force=options["force"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = report.manifest
        self.stdout.write(
            f"Archive: {report.archive.name}, made {manifest['created_at']} by Bihuan "
            f"{manifest['bihuan_version']} on {manifest['site']}."
        )
        replaced = "replaced" if report.replaced else "restored into an empty database"
        self.stdout.write(
            f"Database ({manifest['database']['vendor']}): {replaced}; "
            f"{report.tables} tables, {report.rows} rows."
        )
        self.stdout.write(
            f"Files: {report.files_written} written, {report.files_present} already there."
        )
        if report.migrated:
            self.stdout.write(f"Migrated: {', '.join(report.migrated)}.")
        else:
            self.stdout.write("Migrations: the archive was up to date.")
        self.stdout.write(self.style.SUCCESS("Restore complete."))
