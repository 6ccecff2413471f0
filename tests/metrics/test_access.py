"""Who may read /metrics: nobody until it is configured; then the bearer token, the allowed addresses, or both. A
refusal says nothing about the metrics and never repeats the token."""

import gzip
import logging
import subprocess
import sys

import pytest

from slices_admin.audit.models import AuditEntry
from slices_admin.core.logs import REDACTED, redact_text
from tests.conftest import ROOT
from tests.metrics.exposition import TOKEN

pytestmark = pytest.mark.django_db

ALLOWED = ["10.0.5.17", "192.168.7.0/24"]


def leaks(response) -> bool:
    return b"slices_console" in response.content or TOKEN.encode() in response.content


@pytest.fixture
def off(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []


@pytest.mark.parametrize("method", ["get", "head", "post", "put", "delete", "options"])
def test_with_neither_a_token_nor_addresses_there_is_no_such_page(client, off, method):
    response = getattr(client, method)("/metrics")
    assert response.status_code == 404
    assert not leaks(response)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Token {TOKEN}", f"Basic {TOKEN}", TOKEN],
)
def test_without_the_token_prometheus_is_asked_for_it_and_told_nothing(client, metrics_on, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert not leaks(response)


def test_the_token_reads_the_metrics_whatever_the_case_of_its_scheme(client, metrics_on):
    for scheme in ("Bearer", "bearer"):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {TOKEN}")
        assert response.status_code == 200
        assert b"# TYPE slices_console_http_requests_total counter" in response.content


def test_a_refused_address_is_told_so_and_the_refusal_audited(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ALLOWED
    response = client.get("/metrics", REMOTE_ADDR="10.0.5.18")
    assert response.status_code == 403
    assert not leaks(response)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PERMISSION_DENIED)
    assert entry.reason == "the address is not in METRICS_ALLOWED_IPS"
    assert entry.ip_address == "10.0.5.18"


@pytest.mark.parametrize("address", ["10.0.5.17", "192.168.7.1", "192.168.7.254"])
def test_an_allowed_address_or_network_reads_without_a_token(client, settings, address):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ALLOWED
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 200
    assert b"slices_console_database_up 1.0" in response.content


def test_behind_trusted_proxies_the_address_is_the_forwarded_one(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ALLOWED
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "192.168.7.20"}
    assert client.get("/metrics", **forwarded).status_code == 403  # no proxy trusted: the header is anyone's claim
    settings.TRUSTED_PROXY_COUNT = 1
    assert client.get("/metrics", **forwarded).status_code == 200


def test_with_both_set_both_are_needed(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, ALLOWED
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="10.0.5.17").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="10.9.9.9", **bearer).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.0.5.17", **bearer).status_code == 200


def test_once_configured_only_reading_is_allowed(client, metrics_on):
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.post("/metrics", **bearer).status_code == 405
    assert client.head("/metrics", **bearer).status_code == 200


def test_prometheus_scraping_over_http_is_not_redirected_in_production(client, metrics_on, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/login/").status_code == 301


def test_the_token_is_redacted_from_log_lines(metrics_on, client, caplog):
    assert REDACTED in redact_text(f"scraped with {TOKEN} as the key") and TOKEN not in redact_text(TOKEN)
    with caplog.at_level(logging.INFO):
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
    assert caplog.records and all(TOKEN not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METRICS_TOKEN", "too-short", "METRICS_TOKEN is a random value of 16 characters or more"),
        ("METRICS_ALLOWED_IPS", "10.0.0.1,not-an-address", "'not-an-address' is not an address or a network"),
    ],
)
def test_settings_refuse_a_short_token_and_an_address_that_is_none(variable, value, message):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr


def test_prometheus_gets_openmetrics_and_gzip_when_it_asks(client, metrics_on):
    response = client.get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        HTTP_ACCEPT_ENCODING="gzip",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response["Content-Encoding"] == "gzip"
    text = gzip.decompress(response.content).decode()
    assert "# TYPE slices_console_http_requests counter" in text and text.endswith("# EOF\n")
