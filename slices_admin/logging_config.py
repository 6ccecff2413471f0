"""The console's logging configuration, as settings.py installs it: one line per event on stderr or in a file, with
the request's context and without secrets (the filters and formatters live in `core.logs`)."""

from typing import Any


def logging_config(log_format: str, log_file: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: `log_format` json or plain, appended to `log_file` when one is named, at `level`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_context": {"()": "slices_admin.core.logs.RequestContextFilter"},
            "redact_secrets": {"()": "slices_admin.core.logs.RedactSecretsFilter"},
            "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
            "disallowed_host_once": {"()": "slices_admin.core.logs.DisallowedHostOnce"},
        },
        "formatters": {
            "json": {"()": "slices_admin.core.logs.JsonLineFormatter"},
            "plain": {"()": "slices_admin.core.logs.PlainFormatter"},
        },
        "handlers": {
            "console": {
                **(
                    {"class": "logging.FileHandler", "filename": log_file, "encoding": "utf-8"}
                    if log_file
                    else {"class": "logging.StreamHandler"}
                ),
                "formatter": log_format,
                "filters": ["request_context", "redact_secrets"],
            },
            "mail_admins": {  # as Django's default: only with ADMINS set, never in DEBUG
                "class": "django.utils.log.AdminEmailHandler",
                "level": "ERROR",
                "filters": ["require_debug_false"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console handler (DEBUG only) would print its lines twice, the second time not as JSON.
            "django": {"handlers": ["mail_admins"], "level": "INFO"},
            # runserver's access lines: the access log says it all.
            "django.server": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            # A foreign Host header: one WARNING line per host, no traceback (a scanner must not flood the error log).
            "django.security.DisallowedHost": {"filters": ["disallowed_host_once"], "level": "WARNING"},
            "axes": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
        },
    }
