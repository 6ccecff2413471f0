"""The console's webhook pointed at a receiver process, with short timeouts and backoffs; and the receiver's side of
a delivery: its signature checked as the README tells receivers to."""

import hashlib
import hmac
import json
import time

import pytest

from tests.processes import WebhookReceiver

WEBHOOK_SECRET = "whsec-test-6f1c0d9a2b7e4f3a8c5d1e0b9a7f6e5d"
CONSOLE = "https://console.example.test"
QUICK_WEBHOOKS = {
    "BULK_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "BULK_WEBHOOK_TIMEOUT": "1",
    "BULK_WEBHOOK_MAX_TRIES": "3",
    "BULK_WEBHOOK_BACKOFF_SECONDS": "0.2",
    "CONSOLE_BASE_URL": CONSOLE,
}


@pytest.fixture
def webhook(webhook_receiver, settings):
    """Start a receiver answering from its script (see `webhook_receiver`) and point the console's webhook at it:
    signed, a 1 s timeout, three tries, backoffs from 0.2 s."""
    settings.BULK_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.BULK_WEBHOOK_TIMEOUT = 1.0
    settings.BULK_WEBHOOK_MAX_TRIES = 3
    settings.BULK_WEBHOOK_BACKOFF_SECONDS = 0.2
    settings.CONSOLE_BASE_URL = CONSOLE

    def start(*answers: dict) -> WebhookReceiver:
        receiver = webhook_receiver(*answers)
        settings.BULK_WEBHOOK_URL = receiver.url
        return receiver

    return start


def worker_env(receiver: WebhookReceiver) -> dict[str, str]:
    """The same webhook settings for a `db_worker` process."""
    return {**QUICK_WEBHOOKS, "BULK_WEBHOOK_URL": receiver.url}


def verified(request: dict, secret: str = WEBHOOK_SECRET) -> dict:
    """The JSON a receiver got, once its signature is checked as the README shows: HMAC-SHA256 under the secret of
    the timestamp header, a dot and the body's bytes, and a timestamp under five minutes old."""
    headers = {name.lower(): value for name, value in request["headers"].items()}
    timestamp, body = headers["x-slices-timestamp"], request["body"].encode()
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers["x-slices-signature"], "sha256=" + mac.hexdigest()), "a bad signature"
    assert abs(time.time() - int(timestamp)) < 300
    return json.loads(body)
