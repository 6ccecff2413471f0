"""The webhook's settings: checked by `manage.py check`, and the secret and the URL blanked from every log line."""

import logging

from slices_admin.core.logs import RedactSecretsFilter, redact_text
from slices_admin.notifications.checks import webhook_settings

SLACK_URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def test_without_a_webhook_there_is_nothing_to_check(settings):
    settings.BULK_WEBHOOK_URL = ""
    assert webhook_settings() == []


def test_a_url_the_console_cannot_post_to_is_an_error(settings):
    settings.BULK_WEBHOOK_URL = "ftp://hooks.example.com/in"
    assert [message.id for message in webhook_settings()] == ["notifications.E001"]


def test_links_to_a_loopback_console_in_production_are_warned_about(settings):
    settings.BULK_WEBHOOK_URL, settings.PRODUCTION = SLACK_URL, True
    settings.CONSOLE_BASE_URL = "http://127.0.0.1:8000"
    assert [message.id for message in webhook_settings()] == ["notifications.W001"]
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    assert webhook_settings() == []


def test_the_secret_and_the_url_are_blanked_from_log_lines(settings):
    settings.BULK_WEBHOOK_URL, settings.BULK_WEBHOOK_SECRET = SLACK_URL, "whsec-b7c1d2e3f4"
    assert redact_text(f"posting to {SLACK_URL} signed with whsec-b7c1d2e3f4") == (
        "posting to [redacted] signed with [redacted]"
    )
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (SLACK_URL,), None)
    RedactSecretsFilter().filter(record)
    assert record.getMessage() == "failed: [redacted]"
