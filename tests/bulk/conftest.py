import pytest


@pytest.fixture
def quick(settings):
    """Retries after milliseconds, eight requests in flight, and no typed confirmation below 1,000 slices."""
    settings.BULK_BACKOFF_SECONDS = 0.01
    settings.BULK_CONCURRENCY = 8
    settings.BULK_CONFIRM_THRESHOLD = 1000


@pytest.fixture
def operator_user(make_user):
    return make_user("operator")
