"""Settings of bench_api.py's server: Bihuan's own, plus the bare view it is compared with."""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench_api_urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# SQLite keeps its connection between requests too (PostgreSQL's URL already sets 60 s).
for _database in DATABASES.values():  # noqa: F405
    _database.setdefault("CONN_MAX_AGE", 60)
    _database["CONN_MAX_AGE"] = max(_database["CONN_MAX_AGE"] or 0, 60)
