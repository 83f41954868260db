"""Production: HTTPS only, a real secret key required, PostgreSQL recommended."""

from __future__ import annotations

from bihuan.core.env import env_bool, env_int, env_list, env_str

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = env_str("SECRET_KEY")  # no default: production refuses to start without one
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("insecure"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 random characters (5 or more distinct) in production."
    )

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Preloading binds every subdomain to HTTPS for good, so it is opted into per deployment;
    # leaving it off is a decision, and check --deploy should not warn about it.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Personal numbers are encrypted at rest: production never derives these from SECRET_KEY, so
# that the keys can be kept, rotated and backed up apart from it.
from bihuan.core.crypto import check_hash_key, parse_encryption_keys  # noqa: E402

FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
if not FIELD_ENCRYPTION_KEYS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set in production: one or more Fernet keys, newest first, "
        "comma-separated (make one with: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())')."
    )
parse_encryption_keys(FIELD_ENCRYPTION_KEYS)
FIELD_HASH_KEY = check_hash_key(env_str("FIELD_HASH_KEY"))
