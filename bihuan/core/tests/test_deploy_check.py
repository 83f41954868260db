"""Django's deployment checklist passes on the production settings with sound values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.crypto import get_random_string

from bihuan.core.crypto import generate_encryption_key


def test_check_deploy_reports_no_issue_on_production_settings(tmp_path: Path) -> None:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": get_random_string(60),
        "ALLOWED_HOSTS": "bihuan.example.gov.cn",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": f"{generate_encryption_key()},{generate_encryption_key()}",
        "FIELD_HASH_KEY": get_random_string(40),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(settings.BASE_DIR),
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"FIELD_ENCRYPTION_KEYS": None}, "FIELD_ENCRYPTION_KEYS must be set in production"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-key"}, "item 1 is not a Fernet key"),
        ({"FIELD_HASH_KEY": None}, "FIELD_HASH_KEY must be set"),
        ({"FIELD_HASH_KEY": "short"}, "FIELD_HASH_KEY must be at least 32"),
    ],
    ids=["no-keys", "bad-key", "no-hash-key", "short-hash-key"],
)
def test_production_refuses_to_start_without_sound_field_keys(
    tmp_path: Path, change: dict[str, str | None], message: str
) -> None:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": get_random_string(60),
        "ALLOWED_HOSTS": "bihuan.example.gov.cn",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": generate_encryption_key(),
        "FIELD_HASH_KEY": get_random_string(40),
    }
    for name, value in change.items():
        if value is None:
            environ.pop(name)
        else:
            environ[name] = value
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(settings.BASE_DIR),
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
