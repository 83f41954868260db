"""manage.py backup: one archive of the database and every uploaded file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bihuan.core.backup import BackupError, backup_make, default_site


class Command(BaseCommand):
    help = (
        "Write one archive, bihuan-<site>-<UTC time>.tar.gz, holding the database and every "
        "uploaded file. SQLite is copied with SQLite's online backup API, a consistent snapshot "
        "taken while the application keeps running; PostgreSQL is dumped with pg_dump "
        "--format=custom of the DATABASE_URL database, using the pg_dump of the server's major "
        "version (/usr/lib/postgresql/<major>/bin, or a newer one on PATH), with the password "
        "passed in the environment, never on the command line. Uploaded files (photos, evidence, "
        "imports) are read through the default file storage, so a bucket is saved as well as a "
        "folder; static files are not included. manifest.json in the archive lists the format, "
        "Bihuan's version, the database vendor, the migrations applied and every file with its "
        "size and SHA-256, which `manage.py restore` checks before restoring. The archive is "
        "readable by its owner only and appears under its final name only once complete. Writes "
        "a backup_made event to the audit log. Prints the archive's path on the last line."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--output-dir",
            "-o",
            default=".",
            help="Folder to write the archive into (created if missing; default: the current one).",
        )
        parser.add_argument(
            "--site",
            default=None,
            help=f"Site name in the archive's name (default: this host, {default_site()}).",
        )
        parser.add_argument(
            "--no-compress",
            action="store_true",
            help="Write a plain .tar instead of .tar.gz (faster; photos compress little).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = backup_make(
                directory=Path(options["output_dir"]),
                site=options["site"],
                compress=not options["no_compress"],
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = report.manifest
        files = manifest["files"][1:]
        media_bytes = sum(entry["size"] for entry in files)
        database = manifest["files"][0]
        self.stdout.write(
            f"Database: {manifest['database']['vendor']}, {database['size']} bytes; "
            f"files: {len(files)}, {media_bytes} bytes."
        )
        self.stdout.write(f"Archive: {report.size} bytes, SHA-256 {report.sha256}")
        self.stdout.write(self.style.SUCCESS(str(report.path)))
