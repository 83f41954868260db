"""Settings of the reliability suite's server, worker and checks: production-like, on loopback.

DEBUG is off and the secret key is fixed (sessions made by the set-up must be valid in gunicorn).
Connections to PostgreSQL are kept between requests and checked before reuse, which is what lets
the server ride out a PostgreSQL restart: a dead connection is dropped at the start of the next
request instead of failing it. Mail stays in memory: nothing leaves the machine.
"""

from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "reliability-suite-not-secret-7f3c9a1e5b2d8406c4e1a9b7d3f5e2c8a6b4d0e9f1"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1"]
for _database in DATABASES.values():  # noqa: F405
    _database["CONN_MAX_AGE"] = 60
    _database["CONN_HEALTH_CHECKS"] = True
# The load fetches no static file: plain storage spares the set-up a collectstatic (13 s here).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Nobody logs in during the load (sessions are made up front), but the set-up hashes the demo's
# and the generator's passwords: a fast hasher keeps the set-up inside CI's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The default schedule is left to the load: the suite enqueues its own long jobs.
BIHUAN_SCHEDULE = []
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
