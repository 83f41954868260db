"""Write the access matrix (every URL pattern × persona) to docs/access-matrix.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bihuan.core import access_matrix


class Command(BaseCommand):
    help = (
        "Write the access matrix to docs/access-matrix.md: one row per URL pattern, one column "
        "per demo persona, cells 'in scope / out of scope' (✓ answers, 404 refused, — nothing "
        "out of scope). The matrix comes from the URL configuration and the rules in "
        "bihuan/core/access_matrix.py; it needs no database. Fails, naming them, when a pattern "
        "has no rule or its arguments no object maker. Run it after adding or changing an "
        "endpoint and commit the file: bihuan/core/tests/test_access_matrix.py fails while the "
        "committed file differs, and requests every cell to check it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            default=str(Path(settings.BASE_DIR) / "docs" / "access-matrix.md"),
            help="Where to write the Markdown (default: docs/access-matrix.md).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit with an error if the file is missing or stale.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = access_matrix.problems()
        if problems:
            raise CommandError("Endpoints outside the access matrix:\n" + "\n".join(problems))
        output = Path(options["output"])
        text = access_matrix.markdown()
        if options["check"]:
            if not output.exists() or output.read_text(encoding="utf-8") != text:
                raise CommandError(f"{output} is stale: run manage.py access_matrix.")
            self.stdout.write(f"{output} is current.")
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        rows = text.count("\n| `") - text.split("## Why")[1].count("\n| `")
        self.stdout.write(self.style.SUCCESS(f"Wrote {output} ({rows} patterns)."))
