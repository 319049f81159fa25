"""Settings for Messageboard, read from environment variables with safe development defaults."""

import ipaddress
import os
import tempfile
import warnings
from pathlib import Path

import dj_database_url
import limits
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_rate(name: str, default: str) -> str:
    """Read rate limits in the limits library's notation ("5/15minute", "6/minute;60/hour")."""
    raw = env_str(name, default)
    try:
        limits.parse_many(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be rate limits like '5/minute' or '6/minute;60/hour', not {raw!r}."
        ) from None
    return raw


# Off unless asked for: `make run` and the test suite turn it on for themselves.
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    warnings.warn("SECRET_KEY is not set: using an insecure development key.", stacklevel=1)
    SECRET_KEY = "django-insecure-messageboard-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # For its bundled Swagger UI templates and static files: the API docs load nothing from a CDN.
    "ninja",
    "messages_app",
]

MIDDLEWARE = [
    # First: every answer, refusals by the middleware below included, gets its id and its line.
    "messageboard.request_log.RequestLogMiddleware",
    "messages_app.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything could read a body: a request declaring one over the limit gets 413.
    "messageboard.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A sign-in page whose attempt the rate limits refused answers 429 (messages_app.ratelimits).
    "messages_app.ratelimits.SignInLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "messageboard.urls"
# Plain inputs, textareas and error lists written out in Python (messageboard/form_renderer.py).
FORM_RENDERER = "messageboard.form_renderer.FastFormRenderer"
WSGI_APPLICATION = "messageboard.wsgi.application"

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
                "messages_app.context_processors.site_urls",
            ],
        },
    },
    {
        # Only for the templates rendered most often at a time: the list's rows (README "Performance").
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"environment": "messageboard.jinja2.environment"},
    },
]

# Persistent connections: opening a connection per request costs more than the page itself.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE transactions take the write
    # lock up front, so concurrent writers queue on the busy timeout instead of failing with
    # "database is locked" when a read lock cannot be upgraded.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory: concurrency tests open one connection per thread. The pid keeps
    # simultaneous test runs on one machine apart.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"messageboard-test-{os.getpid()}.sqlite3")
    }

elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that asks the socket before sending SELECT 1.
    DATABASES["default"]["ENGINE"] = "messageboard.db.postgresql"
if DATABASES["default"]["ENGINE"] == "messageboard.db.postgresql" and env_bool(
    "MESSAGEBOARD_PG_PREPARED_STATEMENTS", True
):
    # Parameters bound by the server, and a statement run five times on a connection kept
    # prepared: planning the message page's joins cost several times running them (README
    # "Performance"). Off behind a pooler that hands one connection to many clients between
    # transactions (PgBouncer's transaction mode), where a prepared statement may not be there.
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "messageboard.cache.ReusingRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "messageboard.cache.CountedLocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }
# Bodies are not kept in the local-memory cache above (it counts entries, not bytes): with it,
# each process keeps them in a cache of its own within this many bytes (messages_app/textcache.py).
MESSAGEBOARD_BODY_CACHE_BYTES = env_int("MESSAGEBOARD_BODY_CACHE_BYTES", 64 * 1024 * 1024)
# Rendered comparisons of two versions (the diff page), kept the same way.
MESSAGEBOARD_DIFF_CACHE_BYTES = env_int("MESSAGEBOARD_DIFF_CACHE_BYTES", 16 * 1024 * 1024)
# Rendered message articles and list pages, always in each process (messages_app/pagecache.py),
# Redis or not: a look-up there costs less than a round trip.
MESSAGEBOARD_PAGE_CACHE_BYTES = env_int("MESSAGEBOARD_PAGE_CACHE_BYTES", 32 * 1024 * 1024)
# A kept list page is shown at most this long: the bound if a process died between a change's
# commit and moving the list generation (PostgreSQL), messages_app/pagecache.py.
MESSAGEBOARD_LIST_CACHE_SECONDS = env_int("MESSAGEBOARD_LIST_CACHE_SECONDS", 60)

# Sessions are read on every signed-in page: the cache answers, the database keeps them
# across restarts and workers.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The rate-limit backend only refuses (before ModelBackend hashes anything); it signs no one in.
AUTHENTICATION_BACKENDS = [
    "messages_app.ratelimits.SignInLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "messages_app:message-list"
LOGOUT_REDIRECT_URL = "messages_app:message-list"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# `make serve` runs collectstatic and then sets this: files are served from STATIC_ROOT under
# content-hashed names, pre-compressed, cacheable for ever. Only then: the manifest storage
# refuses to render a page naming a file missing from its manifest, so a fresh clone
# (`make run`, `make test`) serves straight from the finders instead.
STATIC_MANIFEST = env_bool("MESSAGEBOARD_STATIC_MANIFEST", False) and not DEBUG
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

# Both body storages are described, so migrate_storage can copy from the one in use to the other.
MESSAGEBOARD_STORAGE_BACKENDS = {
    "local": {
        "BACKEND": "messages_app.storage.DurableFileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
}
if env_str("AWS_STORAGE_BUCKET_NAME"):
    MESSAGEBOARD_STORAGE_BACKENDS["s3"] = {
        "BACKEND": "messages_app.storage.BodyS3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
            # Every version has a key of its own, so the existence check that
            # file_overwrite=False adds before each write would only cost a request.
            "file_overwrite": True,
            "default_acl": None,
        },
    }

MESSAGEBOARD_STORAGE = env_str("MESSAGEBOARD_STORAGE", "local")
if MESSAGEBOARD_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"MESSAGEBOARD_STORAGE must be 'local' or 's3', not {MESSAGEBOARD_STORAGE!r}.")
if MESSAGEBOARD_STORAGE not in MESSAGEBOARD_STORAGE_BACKENDS:
    raise ImproperlyConfigured("AWS_STORAGE_BUCKET_NAME must be set when MESSAGEBOARD_STORAGE=s3.")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "messageboard.staticfiles.ProductionStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    "messages": MESSAGEBOARD_STORAGE_BACKENDS[MESSAGEBOARD_STORAGE],
}

MESSAGEBOARD_LEASE_SECONDS = env_int("MESSAGEBOARD_LEASE_SECONDS", 120)
MESSAGEBOARD_IDLE_SECONDS = env_int("MESSAGEBOARD_IDLE_SECONDS", 15 * 60)
MESSAGEBOARD_MAX_BODY_BYTES = env_int("MESSAGEBOARD_MAX_BODY_BYTES", 262144)
MESSAGEBOARD_PAGE_SIZE = 50
# The board a message goes to when none is named (made by migration 0012, open to all as before boards).
MESSAGEBOARD_DEFAULT_BOARD = env_str("MESSAGEBOARD_DEFAULT_BOARD", "general")
# How often an open message page asks whether a new version was saved (a 304 while none was).
MESSAGEBOARD_CHANGES_POLL_SECONDS = env_int("MESSAGEBOARD_CHANGES_POLL_SECONDS", 30)
# Leases cannot be hogged: at most this many at once per user (0: no limit), renewed only up to
# this long after being taken or after the holder's last save, and not taken back for this
# long after a moderator broke it (0: no cooldown).
MESSAGEBOARD_MAX_LEASES_PER_USER = env_int("MESSAGEBOARD_MAX_LEASES_PER_USER", 5)
MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS = env_int("MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS", 3600)
MESSAGEBOARD_BREAK_COOLDOWN_SECONDS = env_int("MESSAGEBOARD_BREAK_COOLDOWN_SECONDS", 600)
# Waiting for a lease: the first one still waiting when it frees has it kept this long, and a
# waiter whose page stopped asking (it asks every few seconds) for this long has left the line.
MESSAGEBOARD_QUEUE_RESERVE_SECONDS = env_int("MESSAGEBOARD_QUEUE_RESERVE_SECONDS", 30)
MESSAGEBOARD_QUEUE_STALE_SECONDS = env_int("MESSAGEBOARD_QUEUE_STALE_SECONDS", 20)
# Drafts one user keeps at once (a draft is a file of up to MESSAGEBOARD_MAX_BODY_BYTES).
MESSAGEBOARD_MAX_DRAFTS_PER_USER = env_int("MESSAGEBOARD_MAX_DRAFTS_PER_USER", 50)
if MESSAGEBOARD_LEASE_SECONDS < 4:
    raise ImproperlyConfigured("MESSAGEBOARD_LEASE_SECONDS must be at least 4.")

# Request rate limits (messages_app/ratelimits.py), each in the limits library's notation;
# several figures joined by ";" must all hold. Sign-in counts failures; the rest count requests.
MESSAGEBOARD_RATE_LIMITS = env_bool("MESSAGEBOARD_RATE_LIMITS", True)
MESSAGEBOARD_RATE_SIGNIN = env_rate("MESSAGEBOARD_RATE_SIGNIN", "5/15minute")  # per username and address
MESSAGEBOARD_RATE_SIGNIN_IP = env_rate("MESSAGEBOARD_RATE_SIGNIN_IP", "20/15minute")  # per address, any usernames
MESSAGEBOARD_RATE_SIGNUPS = env_rate("MESSAGEBOARD_RATE_SIGNUPS", "5/hour")  # per address
MESSAGEBOARD_RATE_TOKENS = env_rate("MESSAGEBOARD_RATE_TOKENS", "10/hour")  # POST /api/auth/token per address
MESSAGEBOARD_RATE_POSTS = env_rate("MESSAGEBOARD_RATE_POSTS", "6/minute;60/hour")  # per user
MESSAGEBOARD_RATE_SAVES = env_rate("MESSAGEBOARD_RATE_SAVES", "10/minute;120/hour")  # per user, reverts too
# Diffs not yet computed, per address: each may cost a few tenths of a second (benchmarks/diff.py).
MESSAGEBOARD_RATE_DIFFS = env_rate("MESSAGEBOARD_RATE_DIFFS", "30/minute;300/hour")
MESSAGEBOARD_RATE_LEASES = env_rate("MESSAGEBOARD_RATE_LEASES", "20/minute;200/hour")  # lease takes per user
# Draft writes per user: a heartbeat every 30 s per open editor, a few editors at once.
MESSAGEBOARD_RATE_DRAFTS = env_rate("MESSAGEBOARD_RATE_DRAFTS", "30/minute;600/hour")
# A merge costs up to a diff's bounded work (benchmarks/merge.py): limited like diffs, per user.
MESSAGEBOARD_RATE_MERGES = env_rate("MESSAGEBOARD_RATE_MERGES", "30/minute;300/hour")
# Markdown previews per user: the editor asks one half a second after typing stops.
MESSAGEBOARD_RATE_PREVIEWS = env_rate("MESSAGEBOARD_RATE_PREVIEWS", "60/minute;1200/hour")
# What one search may cost the database, whatever its words: past it, it is refused as too broad.
MESSAGEBOARD_SEARCH_TIME_LIMIT_MS = env_int("MESSAGEBOARD_SEARCH_TIME_LIMIT_MS", 2000)
# Who may read /metrics (messages_app/metrics.py): addresses or networks, comma-separated (the
# caller's address as the rate limits see it, MESSAGEBOARD_TRUSTED_PROXY_COUNT included), or
# anyone sending "Authorization: Bearer <MESSAGEBOARD_METRICS_TOKEN>"; everyone else gets 403.
MESSAGEBOARD_METRICS_ALLOW = tuple(
    entry.strip() for entry in env_str("MESSAGEBOARD_METRICS_ALLOW", "127.0.0.1/32,::1/128").split(",") if entry.strip()
)
for _entry in MESSAGEBOARD_METRICS_ALLOW:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"MESSAGEBOARD_METRICS_ALLOW: {_entry!r} is not an address or a network.") from None
MESSAGEBOARD_METRICS_TOKEN = env_str("MESSAGEBOARD_METRICS_TOKEN", "")
# Searches per address, pages and API alike (each ranks up to a thousand matches).
MESSAGEBOARD_RATE_SEARCHES = env_rate("MESSAGEBOARD_RATE_SEARCHES", "30/minute;600/hour")
# Shared by every process and app server through Redis; on the embedded default, per process.
MESSAGEBOARD_RATE_STORAGE = env_str("MESSAGEBOARD_RATE_STORAGE", REDIS_URL or "memory://")
MESSAGEBOARD_RATE_KEY_PREFIX = env_str("MESSAGEBOARD_RATE_KEY_PREFIX", "messageboard-limits")
MESSAGEBOARD_RATE_IPV6_PREFIX = env_int("MESSAGEBOARD_RATE_IPV6_PREFIX", 64)
# Proxies in front that append to X-Forwarded-For; 0: the limits count REMOTE_ADDR.
MESSAGEBOARD_TRUSTED_PROXY_COUNT = env_int("MESSAGEBOARD_TRUSTED_PROXY_COUNT", 0)
if not 0 <= MESSAGEBOARD_RATE_IPV6_PREFIX <= 128:
    raise ImproperlyConfigured("MESSAGEBOARD_RATE_IPV6_PREFIX must be between 0 and 128.")
if MESSAGEBOARD_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("MESSAGEBOARD_TRUSTED_PROXY_COUNT must not be negative.")

# A form post carries the body once, percent-encoded (up to 3 bytes per byte), beside a
# little else; the body limit itself is enforced with a clear message by the services.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, MESSAGEBOARD_MAX_BODY_BYTES * 6 + 65_536)
# No page takes files: a file part is refused (400) before it is read, whatever its size.
DATA_UPLOAD_MAX_NUMBER_FILES = 0

# Markdown images from other sites are shown as links unless this allows loading them (each
# load tells that site who reads the message, and when).
MESSAGEBOARD_MARKDOWN_IMAGES = env_bool("MESSAGEBOARD_MARKDOWN_IMAGES", False)

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *(["https:"] if MESSAGEBOARD_MARKDOWN_IMAGES else [])],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# X-Forwarded-Proto is whatever the client sent, unless a proxy that terminates TLS replaces it
# on every request: only then does it make a request HTTPS (gunicorn.conf.py reads this too).
MESSAGEBOARD_BEHIND_TLS_PROXY = env_bool("MESSAGEBOARD_BEHIND_TLS_PROXY", False)
if MESSAGEBOARD_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if env_bool("HTTPS", not DEBUG):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# One JSON line per request, per lease transition and per save on standard error (messageboard/logs.py),
# at MESSAGEBOARD_LOG_LEVEL (INFO: every line; WARNING: refusals and errors only); other
# libraries' lines at LOG_LEVEL.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "messageboard.logs.JsonFormatter"}},
    "filters": {"request_id": {"()": "messageboard.logs.RequestIdFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "loggers": {
        "messageboard": {
            "filters": ["request_id"],
            "handlers": ["console"],
            "level": env_str("MESSAGEBOARD_LOG_LEVEL", "INFO"),
            "propagate": False,
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
