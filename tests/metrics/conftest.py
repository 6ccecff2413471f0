import pytest
from django.test import Client

from tests.metrics.exposition import TOKEN, Scrape


@pytest.fixture
def metrics_on(settings):
    """/metrics behind a token, its database gauges read afresh on every scrape."""
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_CACHE_SECONDS = 0
    return TOKEN


@pytest.fixture
def scrape(metrics_on):
    """Scrape /metrics as Prometheus does (its own client, the bearer token) and parse the answer."""
    prometheus = Client()

    def read() -> Scrape:
        response = prometheus.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_on}")
        assert response.status_code == 200, response.content[:300]
        assert response["Content-Type"].startswith("text/plain")
        return Scrape.parse(response.content.decode())

    return read
