"""Fresh, empty databases for one benchmark run, removed when it ends."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


@contextmanager
def fresh_databases(url: str, *labels: str) -> Iterator[list[str]]:
    """One database URL per label: SQLite files in a temporary folder when ``url`` is empty,
    otherwise PostgreSQL databases created beside the one ``url`` names and dropped afterwards."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="bihuan-bench-") as folder:
            yield [f"sqlite:///{folder}/{label}.sqlite3" for label in labels]
        return
    import psycopg
    from psycopg import sql

    names = [f"bihuan_bench_{os.getpid()}_{label}" for label in labels]
    with psycopg.connect(url, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        parts = urlsplit(url)
        yield [parts._replace(path=f"/{name}").geturl() for name in names]
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as admin:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def django_on(url: str) -> None:
    """Point Django at ``url`` with the project's own settings and migrate it.

    Side effects stay in the database: no e-mail leaves a benchmark.
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = url
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
