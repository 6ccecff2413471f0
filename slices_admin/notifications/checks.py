"""`manage.py check` (and every command that runs it: migrate, runserver, serve) on the webhook's settings: an
address the console cannot post to, and job links no receiver can open."""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from slices_admin.core.addresses import is_loopback


def webhook_settings(**kwargs: Any) -> list[CheckMessage]:
    url = settings.BULK_WEBHOOK_URL
    if not url:
        return []
    found: list[CheckMessage] = []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        found.append(Error("BULK_WEBHOOK_URL is not an http:// or https:// URL.", id="notifications.E001"))
    if settings.PRODUCTION and is_loopback(urlsplit(settings.CONSOLE_BASE_URL).hostname):
        found.append(
            Warning(
                "Notifications link to the console at CONSOLE_BASE_URL, now a loopback address.",
                hint="Set CONSOLE_BASE_URL to the address people reach the console at, e.g. https://console.example.com.",
                id="notifications.W001",
            )
        )
    return found
