"""Settings shared by every environment, read from the environment.

With no variable set the app runs embedded: SQLite under ``var/``, a filesystem
Celery broker under ``var/broker/`` and e-mail written to files under ``var/mail/``.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("LEADCRM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-development-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # domain apps, lowest first
    "core",
    "leads",
    "scoring",
    "nurturing",
    "intake",
    "reports",
    # interfaces
    "web",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadcrm.urls"
WSGI_APPLICATION = "leadcrm.wsgi.application"

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

# Widgets render with the templates above, so that templates/ may hold a widget's own
# (admin/intake/form_fields_editor.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# Database: SQLite under var/ unless DATABASE_URL is set.
DATABASES = {
    # An empty DATABASE_URL (a .env line left blank) means the embedded default, as no line does.
    "default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'leadcrm.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let the web server and the worker write side by side.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # A health check costs a round trip (SELECT 1) on every request; turn it on where the
    # database or a pooler may drop idle connections (otherwise the first request on a
    # dropped connection fails once and the connection is replaced).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
# PostgreSQL: the event path's fixed statements are prepared once per connection. Turn off
# behind a pooler in transaction mode (PgBouncer's default), where sessions are shared.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
# PostgreSQL: a list of events posted at once (split by lead) and a CSV import (split by
# address) are written over this many connections side by side (1: one connection). The
# extra connections last as long as the request or the import.
DATABASE_PARALLEL_WRITES = env.int("DATABASE_PARALLEL_WRITES", default=2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins are throttled per user name and address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Redis, when configured, is the Celery broker and the shared cache.
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    # Embedded broker: kombu's filesystem transport needs no server.
    for sub in ("in", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "in"),
        "data_folder_out": str(CELERY_BROKER_DIR / "in"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ROUTES = {
    "scoring.*": {"queue": "events"},
    "nurturing.*": {"queue": "nurture"},
    "bulk.*": {"queue": "bulk"},
}
CELERY_TASK_DEFAULT_QUEUE = "default"

# E-mail: files under var/mail unless an SMTP host is configured.
EMAIL_HOST = env("EMAIL_HOST", default="")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="LeadCRM <no-reply@leadcrm.localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Per API token (one token per user). Events have their own, higher budget.
        "api": env("API_THROTTLE_RATE", default="1200/min"),
        "events": env("API_EVENTS_THROTTLE_RATE", default="60000/min"),
    },
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
}
# Largest request body the API reads; bigger ones are answered 413 before parsing.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
# How long an API token's user and permissions stay cached (dropped at once when they change).
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", default=60)
docs_font = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
docs_code_font = 'SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace'
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadCRM API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Leads, their activities and engagement events, for integrations.\n\n"
        "**Authentication.** Every call carries a token of a LeadCRM user: "
        "`Authorization: Token <key>`. An administrator makes one with "
        "`python manage.py create_api_token USERNAME`; in the docs, paste `Token <key>` into "
        '"Authorize". A call reaches what that user may reach in the pages (a rep: their own '
        "leads and the unassigned pool), and fields the role may not write are refused.\n\n"
        "**Limits.** Requests are counted per token (HTTP 429 with `Retry-After` past the limit); "
        "a body over the size cap answers 413. Lists are paged with a `cursor`: follow `next`.\n\n"
        "**Errors** come back as JSON, field by field, as the pages show them."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    # Only the token in the docs' "Authorize" dialog: integrations cannot use a session cookie.
    "AUTHENTICATION_WHITELIST": ["api.authentication.CachedTokenAuthentication"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc come from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Redoc's default fonts come from Google Fonts; the docs use the system's own
    # (templates/drf_spectacular/redoc.html leaves out the font links).
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": docs_font,
                "headings": {"fontFamily": docs_font},
                "code": {"fontFamily": docs_code_font},
            }
        }
    },
}

# Demo data: the password of the demo users that seed_demo creates.
DEMO_PASSWORD = env("DEMO_PASSWORD", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
