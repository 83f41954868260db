"""Settings shared by every mode; what differs between machines comes from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from bihuan.core.env import env_bool, env_database, env_int, env_list, env_storage, env_str
from bihuan.core.security import content_security_policy, env_networks

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-change-me-0123456789-abcdefghij")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Demo mode exempts the demo accounts from the forced change of their initial password.
BIHUAN_DEMO = env_bool("BIHUAN_DEMO", False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "captcha",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "bihuan.core",
    "bihuan.audit",
    "bihuan.territory",
    "bihuan.accounts",
    "bihuan.registry",
    "bihuan.leads",
    "bihuan.cases",
    "bihuan.screening",
    "bihuan.reports",
    "bihuan.intake",
    "bihuan.open311",
    "bihuan.api",
    "bihuan.webhooks",
    "bihuan.notifications",
    "bihuan.jobs",
    "bihuan.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bihuan.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Before the session rules, which tell the user why they were signed out.
    "django.contrib.messages.middleware.MessageMiddleware",
    "bihuan.accounts.allowlist.AdminNetworkMiddleware",
    "bihuan.accounts.middleware.IdleTimeoutMiddleware",
    "bihuan.accounts.middleware.PasswordChangeRequiredMiddleware",
    "bihuan.accounts.middleware_otp.SecondFactorMiddleware",
    "bihuan.accounts.middleware_otp.SessionTrackingMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bihuan.accounts.context_processors.navigation",
                "bihuan.notifications.context_processors.unread_notifications",
            ],
        },
    }
]

DATABASES = {
    "default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'bihuan.sqlite3'}"),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
# Password expiry and reuse (等保 8.1.4.1 a): a password older than PASSWORD_MAX_AGE_DAYS must be
# changed at the next request; a new one may not repeat the last PASSWORD_HISTORY_COUNT.
PASSWORD_MAX_AGE_DAYS = env_int("PASSWORD_MAX_AGE_DAYS", 90, minimum=1, maximum=3650)
PASSWORD_HISTORY_COUNT = env_int("PASSWORD_HISTORY_COUNT", 5, minimum=0, maximum=24)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "bihuan.accounts.passwords.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "bihuan.accounts.passwords.NotContainingUsernameValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {
        "NAME": "bihuan.accounts.passwords.PasswordHistoryValidator",
        "OPTIONS": {"count": PASSWORD_HISTORY_COUNT},
    },
]

# Login failure handling (等保 8.1.4.1 b): lock LOCKOUT_MINUTES after LOCKOUT_THRESHOLD failures.
LOCKOUT_THRESHOLD = env_int("LOCKOUT_THRESHOLD", 5, minimum=1, maximum=100)
LOCKOUT_MINUTES = env_int("LOCKOUT_MINUTES", 10, minimum=1, maximum=24 * 60)
# Administrators (system, security, audit) only from these networks, e.g. "10.20.0.0/16,192.0.2.7";
# empty lets them in from anywhere. See bihuan/accounts/allowlist.py.
ADMIN_IP_ALLOWLIST = env_networks("ADMIN_IP_ALLOWLIST")
# Reverse proxies whose X-Forwarded-For is believed (networks); empty trusts only REMOTE_ADDR.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
IDLE_TIMEOUT_MINUTES = env_int("IDLE_TIMEOUT_MINUTES", 30, minimum=1, maximum=24 * 60)
# Two-factor sign-in (等保 8.1.4.1 d): required for these roles, available to everyone.
OTP_REQUIRED_ROLES = env_list(
    "OTP_REQUIRED_ROLES", ["system_admin", "security_admin", "audit_admin", "supervisor"]
)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Bihuan")
# Wrong codes count towards the account lockout above instead of django-otp's own back-off.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Personal numbers encrypted at rest (bihuan.core.crypto): Fernet keys, newest first (older ones
# still decrypt until rotate_field_keys has moved every value), and the key of the search hash.
# Left empty, both are derived from SECRET_KEY; production requires them.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
FIELD_HASH_KEY = env_str("FIELD_HASH_KEY", "")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": env_storage(),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Largest territory or registry file accepted for import.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
# Largest evidence file (photo or PDF) attached to a lead or a reply.
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# Largest inspection photo accepted from a phone (it is re-encoded smaller before it is stored).
SCREENING_PHOTO_MAX_BYTES = env_int("SCREENING_PHOTO_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# An inspection's position farther than this from the registered address (or less accurate than
# this) is flagged for the reviewer.
SCREENING_FAR_METRES = env_int("SCREENING_FAR_METRES", 300, minimum=10, maximum=100_000)
# Background tiles of the registry map (a Leaflet URL template with {z}/{x}/{y}); empty draws the
# outlines and points on a plain background, so the map works on a closed network. The tiles must
# be in WGS-84 (or CGCS2000): positions are stored in WGS-84 and are not shifted to GCJ-02.
MAP_TILE_URL = env_str("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "")

# Content-Security-Policy in every mode (so the browser tests run under it): our own scripts and
# styles only, images also from the map tile server. See bihuan/core/security.py.
CONTENT_SECURITY_POLICY = content_security_policy(map_tile_url=MAP_TILE_URL)

# The key of the audit log's hash chain (HMAC-SHA256). Empty: derived from SECRET_KEY. Keep it out
# of the database, so that database access alone cannot rewrite events and re-seal them. After a
# change, list the former keys in AUDIT_CHAIN_PREVIOUS_KEYS so verify_audit can check old seals.
AUDIT_CHAIN_KEY = env_str("AUDIT_CHAIN_KEY", "")
AUDIT_CHAIN_PREVIOUS_KEYS = env_list("AUDIT_CHAIN_PREVIOUS_KEYS", [])

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "bihuan@localhost")

# Where emails link to (scheme and host, e.g. https://bihuan.example.gov.cn); empty leaves paths.
BIHUAN_BASE_URL = env_str("BASE_URL", "")

# The task queue: the database by default (worker: `manage.py db_worker`), or Redis through RQ
# with TASKS_BACKEND=django_tasks_rq.RQBackend (worker:
# `manage.py rqworker --job-class django_tasks_rq.Job default`).
TASKS_BACKEND = env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")
TASKS: dict[str, dict[str, Any]] = {"default": {"BACKEND": TASKS_BACKEND}}
if TASKS_BACKEND == "django_tasks_rq.RQBackend":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60 * 60}}
    TASKS["default"]["QUEUES"] = list(RQ_QUEUES)

# Periodic jobs enqueued by `manage.py run_scheduler`, each slot once however many schedulers run:
#   {"name": "overdue_scan", "task": "bihuan.leads.tasks.overdue_scan", "every_minutes": 10}
#   {"name": "daily_digest", "task": "bihuan.….tasks.daily_digest", "daily_at": "08:00"}
# daily_at is Asia/Shanghai time. The task receives its slot as an ISO 8601 string.
BIHUAN_SCHEDULE: list[dict[str, Any]] = [
    {"name": "overdue_scan", "task": "bihuan.leads.tasks.overdue_scan", "every_minutes": 10},
    {"name": "daily_digest", "task": "bihuan.leads.tasks.daily_digest", "daily_at": "08:00"},
    {
        "name": "resend_pending_emails",
        "task": "bihuan.notifications.tasks.resend_pending_emails",
        "every_minutes": 30,
    },
    {"name": "refresh_figures", "task": "bihuan.reports.tasks.refresh_figures", "every_minutes": 5},
    {"name": "webhook_retries", "task": "bihuan.webhooks.tasks.retry_due", "every_minutes": 1},
    {"name": "audit_seal", "task": "bihuan.audit.tasks.seal_events", "every_minutes": 1},
    {
        "name": "reap_stranded_jobs",
        "task": "bihuan.jobs.tasks.reap_stranded_jobs",
        "every_minutes": 10,
    },
]
# A job RUNNING for longer than this is taken as lost with its worker: failed and enqueued again.
TASKS_STALE_MINUTES = env_int("TASKS_STALE_MINUTES", 60, minimum=5, maximum=7 * 24 * 60)

# Every record passes the redaction filter (phones, ID numbers, tokens, session ids, passwords)
# before the one handler writes it: Django's own handlers for "django" and "django.server" (which
# would print request lines and errors unfiltered) are replaced by propagation to it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "bihuan.core.log_redaction.RedactPersonalData"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

SITE_TITLE = _("Bihuan off-campus tutoring supervision")

# The integration API (/api/v1/): per-user hashed tokens, session for the browsable docs.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "bihuan.api.authentication.HashedTokenAuthentication",
        "bihuan.api.authentication.ActiveSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "bihuan.api.pagination.ApiPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "bihuan.api.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "bihuan.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# Swagger UI and Redoc come from drf-spectacular-sidecar's static files, never a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Bihuan API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
