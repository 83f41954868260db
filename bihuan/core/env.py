"""Typed readers for settings taken from the environment.

Each reader refuses a malformed value with ImproperlyConfigured naming the variable, so that a
typo in a deployment stops the process at start-up instead of silently running with a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    source = os.environ if environ is None else environ
    value = source.get(name)
    if value is None:
        return None
    return value.strip()


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    """A non-empty string; required when no default is given."""
    value = _raw(name, environ)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set in the environment.")
        return default
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    """One of 1/0, true/false, yes/no, on/off (any case); anything else is refused."""
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no).")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """An integer within the given bounds."""
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
    return number


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list; empty items are refused because they are always typos."""
    value = _raw(name, environ)
    if value is None or value == "":
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} contains an empty item.")
    return items


S3_STORAGE = "storages.backends.s3.S3Storage"


def env_storage(*, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The default file storage (photos, evidence, imports): the local disk, or S3-compatible.

    ``FILE_STORAGE=s3`` stores files in a bucket through django-storages (AWS S3, MinIO, Ceph,
    OSS or COS in S3 mode): ``S3_BUCKET`` is required; ``S3_ENDPOINT_URL``, ``S3_REGION``,
    ``S3_ACCESS_KEY_ID`` and ``S3_SECRET_ACCESS_KEY`` are optional (boto3's own chain otherwise).
    Objects stay private: Bihuan serves every photo through a scoped view, never a public URL.
    Any other value is taken as the dotted path of a storage class.
    """
    backend = env_str(
        "FILE_STORAGE", "django.core.files.storage.FileSystemStorage", environ=environ
    )
    if backend not in {"s3", S3_STORAGE}:
        return {"BACKEND": backend}
    options: dict[str, Any] = {
        "bucket_name": env_str("S3_BUCKET", environ=environ),
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": False,
        # Path-style addressing works with every S3-compatible server, virtual hosts do not.
        "addressing_style": env_str("S3_ADDRESSING_STYLE", "path", environ=environ),
    }
    for setting, option in (
        ("S3_ENDPOINT_URL", "endpoint_url"),
        ("S3_REGION", "region_name"),
        ("S3_ACCESS_KEY_ID", "access_key"),
        ("S3_SECRET_ACCESS_KEY", "secret_key"),
    ):
        value = env_str(setting, "", environ=environ)
        if value:
            options[option] = value
    return {"BACKEND": S3_STORAGE, "OPTIONS": options}


SUPPORTED_ENGINES = {
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
}


def env_database(
    name: str, default: str, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A database URL (sqlite:///path or postgres://...) parsed into Django's DATABASES entry."""
    value = _raw(name, environ) or default
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(value))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    if config.get("ENGINE") not in SUPPORTED_ENGINES:
        raise ImproperlyConfigured(
            f"{name} uses an unsupported database ({config.get('ENGINE')}); "
            "Bihuan runs on SQLite or PostgreSQL."
        )
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} does not name a database.")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if config["NAME"] == ":memory:":
            raise ImproperlyConfigured(
                f"{name} names an in-memory SQLite database, which loses everything on exit."
            )
        config["OPTIONS"] = sqlite_options()
    else:
        config["CONN_MAX_AGE"] = 60
        config["CONN_HEALTH_CHECKS"] = True
    return config


def sqlite_options() -> dict[str, Any]:
    """WAL, a busy timeout and IMMEDIATE transactions: what several writers on one file need.

    Django's default DEFERRED transactions take the write lock on the first write, so two
    transactions that both read first deadlock and one fails at once with "database is locked"
    whatever the timeout; IMMEDIATE takes the lock at BEGIN, where the busy timeout applies.
    """
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=30000;"
        ),
    }
