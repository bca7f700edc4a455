"""Settings come from the environment only (django-environ); see README "Configuration"."""

from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The fallback key only exists so the quick start and tests run without configuration;
# `check --deploy` flags it, and production sets SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-dev-only-change-me-0123456789abcdefghijklmnopqrstuvwxyz")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base of every link the platform puts in a message (short links, landing pages,
# tracking, unsubscribe, forms), because messages are read far from the request that made them.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://localhost:8000").rstrip("/")
# Base of short links (URL shortener, landing SMS); empty: PUBLIC_URL. A separate short domain must
# route /<code> to this site.
SHORT_URL_BASE = env.str("SHORT_URL_BASE", default="").rstrip("/")

# SQLite (quick start only) cannot make tracking's "one short link per account and URL" constraint,
# which also treats platform links (no account) as equal; PostgreSQL does. The shortener still looks the
# link up before creating it, so on SQLite only a race can make a second one.
SILENCED_SYSTEM_CHECKS = ["models.W047"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_q",
    "accounts",
    "contacts",
    "campaigns",
    "messaging",
    "otp",
    "validation",
    "content",
    "tracking",
    "certificates",
    "compliance",
    "voice",
]

MIDDLEWARE = [
    # Header floods and oversized API bodies are refused before anything else runs.
    "config.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /webhooks/ stops here: providers need none of the browser middleware below.
    "config.middleware.WebhookShortcutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
# Staff pages keep Django's page; under /api/ (where no view is subject to CSRF) the envelope.
CSRF_FAILURE_VIEW = "config.urls.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves the quick start, where the web server and the worker
    # write at the same time; WAL and a busy timeout keep them from failing on locks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = env.str("REDIS_URL", default="")
# Parallel test processes (pytest-xdist sets PYTEST_XDIST_WORKER=gw0, gw1, ...) each get their own Redis
# database: tests clear the cache, which would wipe another process's counters mid-test.
_test_worker = env.str("PYTEST_XDIST_WORKER", default="")
if REDIS_URL and _test_worker.startswith("gw"):
    _redis_base, _, _redis_db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_redis_base}/{(int(_redis_db or 0) + 1 + int(_test_worker[2:])) % 16}"
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A database cache, not locmem: throttling counters must be shared by every process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_entries"}}

Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="campaigns"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    # Must stay longer than timeout (a system check enforces it) so django-q2 never
    # redelivers a task while its first run is still going.
    "retry": env.int("Q_RETRY", default=360),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "queue_limit": 100,
    "bulk": 10,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
Q_CLUSTER["sync"] = env.bool("Q_SYNC", default=False)

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))

# Uploads for contact imports can be large; they are streamed to disk, not held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=30 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10000
# Abuse limits (config.middleware.RequestLimitsMiddleware): API bodies over these answer 413 before they
# are read; the attachments limit is for the bodies that carry files (POST /mailing, /images/generate)
# and is capped by DATA_UPLOAD_MAX_MEMORY_SIZE. More headers, or more header bytes, answer 431.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=10 * 1024 * 1024)
API_MAX_ATTACHMENTS_BODY_BYTES = env.int("API_MAX_ATTACHMENTS_BODY_BYTES", default=30 * 1024 * 1024)
REQUEST_MAX_HEADERS = env.int("REQUEST_MAX_HEADERS", default=100)
REQUEST_MAX_HEADER_BYTES = env.int("REQUEST_MAX_HEADER_BYTES", default=32 * 1024)

REST_FRAMEWORK = {
    # Set on config.api.ApiView rather than here: importing config.api from DRF's settings
    # would be circular (it subclasses DRF's APIView).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "EXCEPTION_HANDLER": "config.api.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Campaign platform REST API",
    "DESCRIPTION": "Compatible implementation of the reference campaign REST API. HTTP Basic auth "
    "with your username and API password.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several request bodies have a field named "type", each with its own choices.
    "ENUM_NAME_OVERRIDES": {
        "ScheduledTypeEnum": ["SMS", "MAILING"],
        "FormElementTypeEnum": "content.form_fields.ELEMENT_TYPES",
        "TemplateTypeEnum": ["HTML"],
        "CustomFieldTypeEnum": ["string", "date", "decimal"],
    },
}

# API passwords are verified with a keyed hash (fast, constant cost) rather than a slow password
# hasher, so Basic-auth floods cannot burn CPU. Rotating this key invalidates every API password.
API_PASSWORD_HMAC_KEY = env.str("API_PASSWORD_HMAC_KEY", default=SECRET_KEY)
# Failed Basic-auth attempts before 429, per client IP and per username, within the window.
API_AUTH_MAX_FAILURES_PER_IP = env.int("API_AUTH_MAX_FAILURES_PER_IP", default=30)
API_AUTH_MAX_FAILURES_PER_USER = env.int("API_AUTH_MAX_FAILURES_PER_USER", default=10)
API_AUTH_FAILURE_WINDOW = env.int("API_AUTH_FAILURE_WINDOW", default=600)
# Number of reverse proxies in front of the app whose X-Forwarded-For entries are trusted.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# One-time codes (otp): stored as HMAC-SHA256 under this key (rotating it invalidates pending codes).
OTP_HMAC_KEY = env.str("OTP_HMAC_KEY", default=SECRET_KEY)
# Codes generated (API or sends with {OTP_CODE}) before 429, per recipient of an account and per
# account, within each window: they stop code flooding (SMS pumping).
OTP_MAX_CODES_PER_RECIPIENT = env.int("OTP_MAX_CODES_PER_RECIPIENT", default=5)
OTP_RECIPIENT_WINDOW_SECONDS = env.int("OTP_RECIPIENT_WINDOW_SECONDS", default=600)
OTP_MAX_CODES_PER_ACCOUNT = env.int("OTP_MAX_CODES_PER_ACCOUNT", default=120)
OTP_ACCOUNT_WINDOW_SECONDS = env.int("OTP_ACCOUNT_WINDOW_SECONDS", default=60)
# Codes are deleted this long after they expire (the admin shows them until then).
OTP_RETENTION_SECONDS = env.int("OTP_RETENTION_SECONDS", default=7 * 86400)

# Contact import files above this size are refused with a clear message.
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)

# What certifying a message (`certified: true` in /sms, /mailing, /landingsms and group sends) adds
# to its cost, per message, in the account's currency; paid from the balance with the send.
CERTIFIED_MESSAGE_PRICE = Decimal(env.str("CERTIFIED_MESSAGE_PRICE", default="0.05"))
if not CERTIFIED_MESSAGE_PRICE.is_finite() or CERTIFIED_MESSAGE_PRICE < 0:
    raise ImproperlyConfigured("CERTIFIED_MESSAGE_PRICE must be a number, 0 or more.")

# Email validation jobs (validation/): the price of each checked address in the account's currency
# (addresses answered from an earlier result are free), and the DNS the checks query. No nameservers
# means the system resolver (/etc/resolv.conf); timeout is per nameserver try, lifetime per query.
EMAIL_VALIDATION_PRICE = Decimal(env.str("EMAIL_VALIDATION_PRICE", default="0.0035"))
EMAIL_VALIDATION_DNS_NAMESERVERS = env.list("EMAIL_VALIDATION_DNS_NAMESERVERS", default=[])
EMAIL_VALIDATION_DNS_PORT = env.int("EMAIL_VALIDATION_DNS_PORT", default=53)
EMAIL_VALIDATION_DNS_TIMEOUT = env.float("EMAIL_VALIDATION_DNS_TIMEOUT", default=2.0)
EMAIL_VALIDATION_DNS_LIFETIME = env.float("EMAIL_VALIDATION_DNS_LIFETIME", default=5.0)

# Requests made on a customer's behalf (notification URLs, the account's event URL; config/outbound.py).
# Private, loopback and other non-public addresses are refused; OUTBOUND_ALLOWED_HOSTS names the
# on-premise receivers that may be called anyway (host names, addresses or networks, comma separated).
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", default=3.05)
OUTBOUND_READ_TIMEOUT = env.float("OUTBOUND_READ_TIMEOUT", default=10.0)
OUTBOUND_MAX_RESPONSE_BYTES = env.int("OUTBOUND_MAX_RESPONSE_BYTES", default=1024 * 1024)
# PEM file of the CAs https receivers are verified against; empty: certifi's bundle (what requests used).
OUTBOUND_CA_BUNDLE = env.str("OUTBOUND_CA_BUNDLE", default="")

# One SMTP relay for every outgoing email, as a URL (django-environ): smtp://user:password@host:25,
# smtp+tls://… (STARTTLS, usually :587), smtp+ssl://… (implicit TLS, usually :465), `?timeout=10`; the
# user and password percent-encoded. Without it emails go to the console. EMAIL_BACKEND (an anymail ESP,
# say) wins over the URL's backend; provider routes may still name their own backend and connection.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=_email["EMAIL_BACKEND"])
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _email.get("OPTIONS", {}).get("TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@localhost")
# django-anymail: the ESP's API keys come from the environment, and every tracking webhook must
# carry the basic-auth secret (`user:password`) so forged events are refused.
ANYMAIL = {
    "WEBHOOK_SECRET": env.list("ANYMAIL_WEBHOOK_SECRET", default=[]),
    **{
        key: env.str(key)
        for key in (
            "MAILGUN_API_KEY",
            "MAILGUN_WEBHOOK_SIGNING_KEY",
            "SENDGRID_API_KEY",
            "POSTMARK_SERVER_TOKEN",
            "BREVO_API_KEY",
        )
        if env.str(key, default="")
    },
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and PUBLIC_URL.startswith("https"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Stated because tests/config/test_security_headers.py holds the pages to them: neither cookie is readable
# by scripts (the pages' scripts send the form's csrfmiddlewaretoken, never the cookie), and neither rides
# on cross-site subrequests or POSTs.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
