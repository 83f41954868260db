"""Tests: the same settings as production code paths, with a file-backed SQLite test database.

A file (not :memory:) so that threads in concurrency tests and the live server used by browser
tests each open their own connection to the same database, exactly as in deployment.
"""

from __future__ import annotations

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test process, so that parallel runs on one machine never share a database.
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / "var" / f"test-bihuan-{os.getpid()}.sqlite3")
    }

# Serve static files from the source folders; tests never run collectstatic.
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The personas are the demo accounts; tests of the forced password change turn this off.
BIHUAN_DEMO = True
