"""One POST to a receiver process, and what its answer means: delivered, worth another try (5xx, 408, 429, a timeout,
no connection) or final (any other answer, a redirect included, which is never followed). What is said about a
failure never holds the URL's path or the secret."""

import json

import pytest

from slices_admin.notifications import sending
from tests.notifications.conftest import WEBHOOK_SECRET, verified
from tests.webhook_receiver import PATH

BODY = json.dumps({"text": "Bulk edit 7 finished ✓", "event": "finished"}, ensure_ascii=False)


def send(receiver, secret=WEBHOOK_SECRET) -> sending.Sent:
    return sending.post(receiver.url, secret, BODY, event="finished", delivery_id="d-1")


def test_a_2xx_is_delivered_with_the_exact_body_signed_and_described_by_its_headers(webhook):
    receiver = webhook({"status": 204})
    assert send(receiver) == sending.Sent(True, status_code=204)
    [request] = receiver.requests()
    assert request["path"] == PATH
    assert request["body"] == BODY and verified(request) == json.loads(BODY)
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == sending.USER_AGENT
    assert (headers["X-Slices-Event"], headers["X-Slices-Delivery"]) == ("finished", "d-1")


def test_without_a_secret_the_message_goes_unsigned(webhook):
    receiver = webhook({"status": 200})
    assert send(receiver, secret="").delivered
    headers = receiver.requests()[0]["headers"]
    assert "X-Slices-Signature" not in headers and "X-Slices-Timestamp" not in headers


def test_a_5xx_is_tried_again_with_the_receivers_words(webhook):
    sent = send(webhook({"status": 503, "body": "maintenance\nback soon"}))
    assert not sent.delivered and sent.retryable and sent.status_code == 503
    assert sent.error == "The receiver answered 503: maintenance back soon"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_4xx_is_final(webhook, status):
    sent = send(webhook({"status": status, "body": "invalid_payload"}))
    assert not sent.delivered and not sent.retryable and sent.status_code == status


def test_a_429_is_tried_again_no_sooner_than_its_retry_after(webhook, settings):
    sent = send(webhook({"status": 429, "headers": {"Retry-After": "30"}}))
    assert sent.retryable and sent.retry_after == 30
    settings.BULK_WEBHOOK_BACKOFF_SECONDS = 10
    assert sending.backoff(1, sent.retry_after) == 30 and sending.backoff(3, sent.retry_after) == 40


def test_a_redirect_is_final_and_not_followed(webhook):
    receiver = webhook({"status": 301, "headers": {"Location": "/elsewhere"}})
    sent = send(receiver)
    assert not sent.delivered and not sent.retryable and "set BULK_WEBHOOK_URL" in sent.error
    assert len(receiver.requests()) == 1


def test_a_receiver_slower_than_the_timeout_is_tried_again(webhook):
    receiver = webhook({"status": 200, "delay": 2.5})
    sent = send(receiver)
    assert not sent.delivered and sent.retryable and sent.error == "No answer within 1 s (timed out)."
    assert len(receiver.requests()) == 1  # it did arrive: a receiver must drop the repeat by its delivery id


def test_a_refused_connection_is_tried_again_and_said_without_the_urls_path(webhook):
    receiver = webhook()
    receiver.stop()
    sent = send(receiver)
    port = receiver.url.split(":")[2].split("/")[0]
    assert not sent.delivered and sent.retryable and sent.status_code is None
    assert sent.error == f"Could not connect to 127.0.0.1:{port}: connection refused."


def test_a_receiver_echoing_the_secret_or_the_urls_path_is_quoted_without_them(webhook):
    echo = f"bad signature {WEBHOOK_SECRET} for POST {PATH}"
    sent = send(webhook({"status": 401, "body": echo}))
    assert WEBHOOK_SECRET not in sent.error and "receiver-path-secret" not in sent.error
    assert sent.error == "The receiver answered 401: bad signature [redacted] for POST [redacted]"


def test_the_backoff_doubles_from_the_setting(settings):
    settings.BULK_WEBHOOK_BACKOFF_SECONDS = 10
    assert [sending.backoff(tries) for tries in range(1, 6)] == [10, 20, 40, 80, 160]
    assert sending.backoff(1, retry_after=99999) == sending.RETRY_AFTER_CAP


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "hooks.slack.com"),
        ("https://user:pass@hooks.example.com:8443/path?token=abc", "hooks.example.com:8443"),
        ("not a url", "the webhook"),
    ],
)
def test_only_the_host_of_the_url_is_ever_named(url, host):
    assert sending.host_of(url) == host
