"""Settings read from the environment refuse malformed values, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import get_random_string

from bihuan.core.crypto import generate_encryption_key
from bihuan.core.env import env_bool, env_database, env_int, env_list, env_storage, env_str

BASE_DIR = Path(settings.BASE_DIR)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("On", True), ("0", False), ("off", False)],
)
def test_env_bool_reads_the_accepted_spellings(raw: str, expected: bool) -> None:
    assert env_bool("DEBUG", not expected, environ={"DEBUG": raw}) is expected


def test_env_bool_falls_back_to_the_default_when_unset_or_empty() -> None:
    assert env_bool("DEBUG", True, environ={}) is True
    assert env_bool("DEBUG", False, environ={"DEBUG": "  "}) is False


def test_env_bool_refuses_maybe() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_env_int_refuses_a_non_numeric_value() -> None:
    with pytest.raises(ImproperlyConfigured, match="LOCKOUT_MINUTES='ten' is not an integer"):
        env_int("LOCKOUT_MINUTES", 10, environ={"LOCKOUT_MINUTES": "ten"})


@pytest.mark.parametrize(("raw", "word"), [("0", "below"), ("1441", "above")])
def test_env_int_refuses_a_value_out_of_range(raw: str, word: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"LOCKOUT_MINUTES={raw} is {word}"):
        env_int("LOCKOUT_MINUTES", 10, minimum=1, maximum=24 * 60, environ={"LOCKOUT_MINUTES": raw})


def test_env_int_accepts_the_bounds_themselves() -> None:
    environ = {"A": "1", "B": "1440"}
    assert env_int("A", 5, minimum=1, maximum=1440, environ=environ) == 1
    assert env_int("B", 5, minimum=1, maximum=1440, environ=environ) == 1440


@pytest.mark.parametrize("raw", ["a.example,,b.example", "a.example,", ",a.example", "a, ,b"])
def test_env_list_refuses_empty_items(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS"):
        env_list("ALLOWED_HOSTS", [], environ={"ALLOWED_HOSTS": raw})


def test_env_list_strips_the_items() -> None:
    environ = {"ALLOWED_HOSTS": " a.example , b.example "}
    assert env_list("ALLOWED_HOSTS", [], environ=environ) == ["a.example", "b.example"]


def test_env_str_without_default_is_required() -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        env_str("SECRET_KEY", environ={"SECRET_KEY": ""})


def test_env_database_refuses_mysql() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL uses an unsupported database"):
        env_database("DATABASE_URL", "sqlite:///x", environ={"DATABASE_URL": "mysql://u@h/db"})


@pytest.mark.parametrize("raw", ["garbage", "http://example/db", "postgres://u@h:port/db"])
def test_env_database_refuses_garbage(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not a valid database URL"):
        env_database("DATABASE_URL", "sqlite:///x", environ={"DATABASE_URL": raw})


def test_env_database_refuses_a_url_without_a_database_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL does not name a database"):
        env_database("DATABASE_URL", "sqlite:///x", environ={"DATABASE_URL": "postgres://u@h"})


def test_env_database_gives_postgresql_persistent_checked_connections() -> None:
    config = env_database(
        "DATABASE_URL", "sqlite:///x", environ={"DATABASE_URL": "postgres://u@db.internal/bihuan"}
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "bihuan"
    assert config["CONN_HEALTH_CHECKS"] is True


def test_env_database_gives_sqlite_immediate_transactions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config = env_database("DATABASE_URL", "sqlite:///x", environ={"DATABASE_URL": url})
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def _import_production(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Import the production settings in a fresh interpreter with only the given variables."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "ALLOWED_HOSTS": "bihuan.example.gov.cn",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **variables,
    }
    code = "import config.settings.production as s; print('DEBUG', s.DEBUG, s.ALLOWED_HOSTS)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _good_key() -> str:
    return get_random_string(60)


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = _import_production(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_secret_key(tmp_path: Path) -> None:
    result = _import_production(tmp_path, SECRET_KEY=get_random_string(49))
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be at least 50" in result.stderr


def test_production_refuses_the_development_key(tmp_path: Path) -> None:
    result = _import_production(tmp_path, SECRET_KEY="insecure-" + get_random_string(60))
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEBUG", "maybe"), ("DATABASE_URL", "mysql://u@h/db"), ("LOCKOUT_MINUTES", "ten")],
)
def test_production_refuses_a_malformed_variable(tmp_path: Path, name: str, value: str) -> None:
    result = _import_production(tmp_path, SECRET_KEY=_good_key(), **{name: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}" in result.stderr


def test_production_starts_with_good_values(tmp_path: Path) -> None:
    result = _import_production(
        tmp_path,
        SECRET_KEY=_good_key(),
        FIELD_ENCRYPTION_KEYS=generate_encryption_key(),
        FIELD_HASH_KEY=_good_key(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "DEBUG False ['bihuan.example.gov.cn']"


def test_storage_defaults_to_the_local_disk() -> None:
    assert env_storage(environ={}) == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_s3_storage_takes_its_bucket_and_endpoint_from_the_environment() -> None:
    environ = {
        "FILE_STORAGE": "s3",
        "S3_BUCKET": "bihuan-photos",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "S3_ACCESS_KEY_ID": "bihuan",
        "S3_SECRET_ACCESS_KEY": "secret",
    }
    storage = env_storage(environ=environ)
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "bihuan-photos"
    assert storage["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert storage["OPTIONS"]["default_acl"] is None  # private objects


def test_s3_storage_without_a_bucket_stops_the_start() -> None:
    with pytest.raises(ImproperlyConfigured, match="S3_BUCKET"):
        env_storage(environ={"FILE_STORAGE": "s3"})
