"""Settings for the Slices console.

Every environment variable the console reads is read here, with a default that makes `make run` work (the sign-in
settings in `sign_in_settings`, the audit checkpoint's in `audit_settings`: imported, each read in one sitting).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from slices_admin.audit_settings import *  # noqa: F403 (AUDIT_CHECKPOINT_KEY)
from slices_admin.environment import env, env_bool, env_list
from slices_admin.kodexa.contract import DEFAULT_STATUSES
from slices_admin.logging_config import logging_config
from slices_admin.metrics.config import checked_networks, checked_token, made_directory
from slices_admin.sign_in_settings import *  # noqa: F403
from slices_admin.sign_in_settings import SIGN_OUT_ORIGINS

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Django core -------------------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-development-key-set-DJANGO_SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# Production (README "Production"): a strong secret key, DEBUG off, hashed static files, and HTTPS enforced unless
# DJANGO_HTTPS=0 (`make serve`: the production stack over plain http on this machine only).
PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
HTTPS = env_bool("DJANGO_HTTPS", PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_PRODUCTION is set.")
if PRODUCTION and (
    "DJANGO_SECRET_KEY" not in os.environ
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith(("django-insecure", "insecure"))
):
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION needs DJANGO_SECRET_KEY: a random value of 50 characters or more, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "axes",
    "slices_admin.core",
    "slices_admin.accounts",
    "slices_admin.tokens",
    "slices_admin.audit",
    "slices_admin.slices",
    "slices_admin.bulk",
    "slices_admin.notifications",
    "slices_admin.api",
    "slices_admin.sandbox",
    "slices_admin.worker",  # before django_tasks_db: its `db_worker` extends that one's
    "django_tasks_db",
]

MIDDLEWARE = [
    "slices_admin.core.middleware.ClientAddressMiddleware",  # REMOTE_ADDR: the client's, behind proxies
    # Outermost but for that: the access log sees every answer, including those of the middleware below.
    "slices_admin.core.middleware.RequestIdMiddleware",
    "slices_admin.core.middleware.RequestLogMiddleware",
    "slices_admin.metrics.middleware.RequestMetricsMiddleware",  # counts those answers too (see `metrics`)
    "django.middleware.security.SecurityMiddleware",
    "slices_admin.core.middleware.StaticFilesMiddleware",  # WhiteNoise
    "slices_admin.core.middleware.PrivateAnswersMiddleware",  # after WhiteNoise: static files keep their long cache
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "slices_admin.audit.middleware.AuditDeniedMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "slices_admin.core.middleware.SessionIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "slices_admin.core.middleware.HtmxLoginRedirectMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "slices_admin.urls"
# The largest request body (form or JSON) the console reads: a bigger one is refused with a message saying this
# limit (413). 4 MiB holds the largest bulk edit by ids (50,000 UUIDs, about 2 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env("REQUEST_BODY_MAX_BYTES", str(4 * 2**20)))
WSGI_APPLICATION = "slices_admin.wsgi.application"

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
                "slices_admin.core.context_processors.console",
                "slices_admin.bulk.context_processors.approvals",
            ],
        },
    },
]

# --- Caches ------------------------------------------------------------------------------------------------------
# Each process keeps its own short-lived copies (the dashboard as last read, Kodexa's status); what every web process
# must count together (the API's rate limit) lives in a database table (created by migration core 0003).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "console_cache"},
}

# --- Database ----------------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'console.sqlite3'}"),
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database host that stops answering fails a request in seconds (a 503 saying so), not after TCP gives up.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(env("DATABASE_CONNECT_TIMEOUT", "5"))
    # The lists' queries are short index walks: compiling them (PostgreSQL's JIT) costs more than it saves. And no
    # parallel workers: one scan (the dashboard's aggregates, computed in the background) would take every core
    # for a moment, and every page waiting meanwhile pays for it.
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off -c max_parallel_workers_per_gather=0")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers and one writer (web and worker) share the file; IMMEDIATE avoids lock upgrades.
        # A 64 MiB page cache and memory-mapped reads keep a million-row table's indexes hot.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; "
            "PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so worker processes started by tests share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / env("TEST_DATABASE_NAME", "test-console.sqlite3"))}
elif "TEST_DATABASE_NAME" in os.environ:  # two test runs side by side each need their own database
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth and sessions -------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = int(env("DJANGO_SESSION_AGE", str(8 * 3600)))  # from sign-in, however active
SESSION_IDLE_SECONDS = int(env("DJANGO_SESSION_IDLE_SECONDS", str(30 * 60)))  # without activity; 0: no limit
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "slices_admin.core.views.csrf_failure"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", HTTPS)

# --- Sign-in throttling (django-axes) ----------------------------------------------------------------------------
# Failed sign-ins are counted per username and address, in the database so that every web process shares them.
# After LOGIN_FAILURE_LIMIT of them that pair is refused (429, the lockout page) for LOGIN_LOCKOUT_MINUTES after
# the last one; other addresses and other users are unaffected. After LOGIN_ADDRESS_FAILURE_LIMIT failures from one
# address across usernames, that address is refused for every username the same way (guessing across accounts).
# `manage.py axes_reset_username NAME` and `manage.py axes_reset_ip ADDRESS` unlock early.
AUTHENTICATION_BACKENDS = [
    "slices_admin.accounts.throttling.SignInThrottleBackend",  # refuses while locked out; signs nobody in
    "slices_admin.accounts.backends.RoleBackend",  # passwords, and permissions in one query
]
AXES_ENABLED = env_bool("LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(env("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "slices_admin.accounts.throttling.SignInThrottleHandler"  # adds the limit per address
LOGIN_ADDRESS_FAILURE_LIMIT = int(env("LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lockout ends when its page said it would
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "slices_admin.accounts.throttling.locked_out_response"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log already

# --- Security headers --------------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    # Sign-out posts a form that lands on the identity provider's end-session endpoint.
    "form-action": [CSP.SELF, *SIGN_OUT_ORIGINS],
    "frame-ancestors": [CSP.NONE],
}

# --- HTTPS (on in production) ------------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # load balancers, Prometheus: the process, over http
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
# Behind a TLS-terminating proxy: the header it sets to "https" (e.g. X-Forwarded-Proto). Only when the proxy
# always sets or strips it; gunicorn's FORWARDED_ALLOW_IPS does the same for the proxies it trusts.
if proxy_ssl_header := env("DJANGO_PROXY_SSL_HEADER", ""):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + proxy_ssl_header.upper().replace("-", "_"), "https")
# Proxies in front of the console that append to X-Forwarded-For (0: clients connect directly). The client's
# address, which sign-in throttling counts by and the audit log records, is that many entries from the right.
TRUSTED_PROXY_COUNT = int(env("DJANGO_TRUSTED_PROXY_COUNT", "0"))
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")  # e.g. https://console.example.com

# --- Static files ------------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
# Production serves what `collectstatic` wrote: hashed names (cached for ever) with compressed copies. Development
# and tests serve the files in place.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_KEEP_ONLY_HASHED_FILES = PRODUCTION  # pages only ever name the hashed copies

# --- Internationalisation ----------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Background tasks (`manage.py db_worker` runs them) -----------------------------------------------------------
TASK_QUEUES = ["default", "notifications"]  # notifications: webhooks, in a thread of each worker (see `db_worker`)
TASKS = {"default": {"BACKEND": env("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"), "QUEUES": TASK_QUEUES}}

# --- Django REST framework ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "slices_admin.tokens.authentication.PersonalTokenAuthentication",  # `Authorization: Token|Bearer <token>`
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["slices_admin.api.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["slices_admin.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "slices_admin.api.pagination.PageNumberPagination",
    "EXCEPTION_HANDLER": "slices_admin.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_METADATA_CLASS": None,  # OPTIONS is a 405: /api/v1/schema describes every operation
    "DEFAULT_THROTTLE_CLASSES": ["slices_admin.api.throttling.ApiRateThrottle"],
}
# Requests per token (or per signed-in user) to the JSON API, e.g. 600/min or 20/s; more are refused with 429 and
# Retry-After, the first refusal in each window audited. Empty: no limit.
API_RATE_LIMIT = env("API_RATE_LIMIT", "600/min")
# The OpenAPI schema of the JSON API, served at /api/v1/schema to signed-in users (see `api.schema`).
SPECTACULAR_SETTINGS = {
    "TITLE": "Slices console API",
    "DESCRIPTION": "Kodexa execution slices: the console's cache, audited changes, bulk edits and the audit log.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "POSTPROCESSING_HOOKS": ["slices_admin.api.schema.postprocess"],
}

# --- Kodexa ------------------------------------------------------------------------------------------------------
# With no KODEXA_BASE_URL the console talks to the sandbox that `make run` starts on this port.
KODEXA_SANDBOX_PORT = int(env("KODEXA_SANDBOX_PORT", "8765"))
KODEXA_BASE_URL = env("KODEXA_BASE_URL", f"http://127.0.0.1:{KODEXA_SANDBOX_PORT}").rstrip("/")
KODEXA_SANDBOX = env_bool("KODEXA_SANDBOX", "KODEXA_BASE_URL" not in os.environ)
KODEXA_API_KEY = env("KODEXA_API_KEY", "sandbox-demo-key" if KODEXA_SANDBOX else "")
if not KODEXA_API_KEY:
    raise ImproperlyConfigured("KODEXA_BASE_URL points at a Kodexa deployment: set KODEXA_API_KEY as well.")
if not DEBUG and not KODEXA_SANDBOX and "DJANGO_SECRET_KEY" not in os.environ:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (a long random value) when talking to a real deployment.")
KODEXA_SANDBOX_DATA = Path(env("KODEXA_SANDBOX_DATA", str(BASE_DIR / "var" / "sandbox.sqlite3")))
KODEXA_CONNECT_TIMEOUT = float(env("KODEXA_CONNECT_TIMEOUT", "3.05"))
KODEXA_READ_TIMEOUT = float(env("KODEXA_READ_TIMEOUT", "15"))
KODEXA_MAX_RETRIES = int(env("KODEXA_MAX_RETRIES", "2"))
KODEXA_MAX_RETRY_WAIT = float(env("KODEXA_MAX_RETRY_WAIT", "10"))
KODEXA_POOL_SIZE = int(env("KODEXA_POOL_SIZE", "16"))
SLICE_STATUSES = env_list("SLICE_STATUSES", ",".join(DEFAULT_STATUSES))
# A PUT replaces the whole record. `keep` sends back the fields Kodexa returned that the contract does not list,
# unchanged, so a newer platform's fields survive every edit; `drop` sends the contract's fields alone, for a
# deployment whose PUT refuses fields it does not know.
KODEXA_PUT_UNKNOWN_FIELDS = env("KODEXA_PUT_UNKNOWN_FIELDS", "keep")
if KODEXA_PUT_UNKNOWN_FIELDS not in {"keep", "drop"}:
    raise ImproperlyConfigured("KODEXA_PUT_UNKNOWN_FIELDS is keep or drop.")
# The dashboard calls a queued slice stuck after this long without starting; it groups failures of this window.
STUCK_QUEUED_MINUTES = int(env("STUCK_QUEUED_MINUTES", "30"))
DASHBOARD_FAILURE_WINDOW_HOURS = int(env("DASHBOARD_FAILURE_WINDOW_HOURS", "24"))
# Background workers recompute the dashboard's figures once they are this old (they look every BULK_SWEEP_SECONDS)
# and pages read the stored ones. A page view computes them itself only when none are stored or they are older than
# DASHBOARD_STALE_SECONDS, i.e. no worker keeps them fresh (`runserver` alone, tests): keep it well above the two.
DASHBOARD_REFRESH_SECONDS = float(env("DASHBOARD_REFRESH_SECONDS", "15"))
DASHBOARD_STALE_SECONDS = float(env("DASHBOARD_STALE_SECONDS", "120"))
# The share of one database core the recompute may take: one that took 3 s waits at least 3 / 0.05 = 60 s.
DASHBOARD_MAX_LOAD = float(env("DASHBOARD_MAX_LOAD", "0.05"))

# --- Bulk edits ---------------------------------------------------------------------------------------------------
# The statuses a bulk edit may set; requests in flight at once (one pooled session of that size per job).
BULK_TARGET_STATUSES = env_list("BULK_TARGET_STATUSES", "FAILED,PENDING,CANCELLED,SKIPPED,SUCCEEDED")
BULK_CONCURRENCY = int(env("BULK_CONCURRENCY", "16"))
# Worker processes that work one job side by side (the concurrency is split between them). PostgreSQL takes their
# writes concurrently; SQLite has one writer at a time, so one runner there.
BULK_RUNNERS_PER_JOB = int(
    env("BULK_RUNNERS_PER_JOB", "2" if DATABASES["default"]["ENGINE"].endswith("postgresql") else "1")
)
BULK_CONFIRM_THRESHOLD = int(env("BULK_CONFIRM_THRESHOLD", "100"))  # above this many changes, type the count
BULK_MAX_ITEMS = int(env("BULK_MAX_ITEMS", "50000"))
BULK_MAX_TRANSIENT_FAILURES = int(env("BULK_MAX_TRANSIENT_FAILURES", "5"))  # per item, then it fails
BULK_BACKOFF_SECONDS = float(env("BULK_BACKOFF_SECONDS", "0.5"))  # first retry waits up to this; doubles, jittered
BULK_MAX_PAUSE_SECONDS = float(env("BULK_MAX_PAUSE_SECONDS", "300"))  # the longest Retry-After honoured
# Kodexa refusing connections, or this many transient failures in a row, means it is down: the job pauses and
# probes it (first after the probe wait, doubling up to the maximum) instead of spending its items' retries.
BULK_OUTAGE_AFTER_FAILURES = int(env("BULK_OUTAGE_AFTER_FAILURES", "8"))
BULK_OUTAGE_PROBE_SECONDS = float(env("BULK_OUTAGE_PROBE_SECONDS", "2"))
BULK_OUTAGE_PROBE_MAX_SECONDS = float(env("BULK_OUTAGE_PROBE_MAX_SECONDS", "30"))
BULK_KEY_REFUSED_PAUSE_SECONDS = float(env("BULK_KEY_REFUSED_PAUSE_SECONDS", "30"))  # Kodexa said 401/403
BULK_HEARTBEAT_SECONDS = float(env("BULK_HEARTBEAT_SECONDS", "2"))
# A runner silent this long is dead; longer than the database's lock wait (20 s), so a slow heartbeat is not one.
BULK_STALE_AFTER_SECONDS = float(env("BULK_STALE_AFTER_SECONDS", "30"))
BULK_SWEEP_SECONDS = float(env("BULK_SWEEP_SECONDS", "5"))  # how often a worker looks for jobs to resume
# How much lower the background workers' CPU priority is than the web's (os.nice, 0-19; 0: the same): where they
# share a machine, pages people wait for go first.
WORKER_NICENESS = int(env("WORKER_NICENESS", "10"))
# Read each slice from Kodexa before its PUT (two requests per slice). Off: the PUT carries the changeSequence the
# operator selected and Kodexa's optimistic lock refuses it if the slice changed; the slice is read only then.
BULK_READ_BEFORE_WRITE = env_bool("BULK_READ_BEFORE_WRITE", False)
BULK_STALE_CACHE_MINUTES = int(env("BULK_STALE_CACHE_MINUTES", "30"))  # preview warns about older cached copies
BULK_RECENT_CHANGE_MINUTES = int(env("BULK_RECENT_CHANGE_MINUTES", "15"))  # ... and about slices changed lately
# Edits changing more slices than this wait for another operator's or admin's approval (empty: none ever do); an
# unanswered request expires after BULK_APPROVAL_EXPIRES_HOURS.
BULK_APPROVAL_THRESHOLD = int(env("BULK_APPROVAL_THRESHOLD", "")) if env("BULK_APPROVAL_THRESHOLD", "") else None
BULK_APPROVAL_EXPIRES_HOURS = float(env("BULK_APPROVAL_EXPIRES_HOURS", "24"))
# A job's maximum rate of requests to Kodexa per second, for the job as a whole: the default a new job gets (empty:
# none) and the most anyone may set.
BULK_DEFAULT_RATE = float(env("BULK_DEFAULT_RATE", "")) if env("BULK_DEFAULT_RATE", "") else None
BULK_MAX_RATE = float(env("BULK_MAX_RATE", "1000"))
# A scheduled job counts its selection again when its time comes, and does not start if the count moved by more
# than this percentage from the one confirmed; it may be scheduled at most BULK_SCHEDULE_MAX_DAYS ahead.
BULK_SCHEDULE_DRIFT_PERCENT = float(env("BULK_SCHEDULE_DRIFT_PERCENT", "10"))
BULK_SCHEDULE_MAX_DAYS = int(env("BULK_SCHEDULE_MAX_DAYS", "30"))
BULK_WEBHOOK_URL = env("BULK_WEBHOOK_URL", "").strip()  # README "Notifications"; empty: none. Never shown, as the next
BULK_WEBHOOK_SECRET = env("BULK_WEBHOOK_SECRET", "")  # the HMAC-SHA256 key; empty: unsigned (e.g. a Slack webhook)
BULK_WEBHOOK_TIMEOUT = float(env("BULK_WEBHOOK_TIMEOUT", "5"))  # seconds to connect, and again to read the answer
BULK_WEBHOOK_MAX_TRIES = int(env("BULK_WEBHOOK_MAX_TRIES", "6"))  # a 5xx, 408, 429, timeout, no connection: again
BULK_WEBHOOK_BACKOFF_SECONDS = float(env("BULK_WEBHOOK_BACKOFF_SECONDS", "10"))  # doubling: 10, 20, 40, 80, 160 s
CONSOLE_BASE_URL = env("CONSOLE_BASE_URL", f"http://127.0.0.1:{env('PORT', '8000')}").rstrip("/")  # the jobs' links

# --- Readiness (`/readyz`) ---------------------------------------------------------------------------------------
# The checks that make /readyz answer 503. All four by default; leaving out "kodexa" keeps the web processes in the
# load balancer through a Kodexa outage, serving cached pages (the check is still reported).
READYZ_REQUIRED = env_list("READYZ_REQUIRED", "database,migrations,kodexa,worker")
READYZ_KODEXA_TIMEOUT = float(env("READYZ_KODEXA_TIMEOUT", "2"))  # the probe's connect and read timeout
READYZ_KODEXA_CACHE_SECONDS = float(env("READYZ_KODEXA_CACHE_SECONDS", "5"))  # one probe per process this often
# Workers record a heartbeat every BULK_SWEEP_SECONDS; none this recent means no worker is running.
WORKER_HEARTBEAT_STALE_SECONDS = float(env("WORKER_HEARTBEAT_STALE_SECONDS", "60"))
# Workers probe Kodexa on every sweep; pages read the result at most this often per process (a banner while down).
KODEXA_STATUS_CACHE_SECONDS = float(env("KODEXA_STATUS_CACHE_SECONDS", "5"))

# --- Metrics (`/metrics`, README "Metrics"): a 404 until Prometheus's bearer token and/or addresses are set -----
METRICS_TOKEN = checked_token(env("METRICS_TOKEN", ""))
METRICS_ALLOWED_IPS = checked_networks(env_list("METRICS_ALLOWED_IPS", ""))  # addresses or networks, e.g. 10.0.6.0/24
METRICS_CACHE_SECONDS = float(env("METRICS_CACHE_SECONDS", "5"))  # the database's gauges: read at most this often
PROMETHEUS_MULTIPROC_DIR = made_directory(env("PROMETHEUS_MULTIPROC_DIR", ""))  # where a host's processes all count

# --- Logging -----------------------------------------------------------------------------------------------------
# One JSON object per line on stderr (LOG_FORMAT=plain: text for people). Lines logged while a request is served
# carry its request_id and user; secrets are redacted from every line (see `core.logs`). The access log is
# `slices_admin.access` (`RequestLogMiddleware`): no web server access log is needed.
LOG_FORMAT = env("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT is json or plain.")
LOG_FILE = env("LOG_FILE", "")  # append the lines to this file instead of stderr (`make bench` names one)
LOGGING = logging_config(LOG_FORMAT, LOG_FILE, env("LOG_LEVEL", "INFO"))
