"""Kodexa down entirely: every page still renders from the cache under a banner saying so, writes fail with a
message a person can act on and are audited, and the cache is left as it was."""

import pytest
from django.urls import reverse

from bench.support import free_port  # nothing listens there once it is free
from slices_admin.audit.models import AuditEntry
from slices_admin.core.models import KodexaStatus
from slices_admin.core.services import forget_kodexa_outage, probe_kodexa
from slices_admin.slices.models import OrchestratorSlice
from tests.factories import cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db

BANNER = "Kodexa is not answering"


@pytest.fixture
def kodexa_down(kodexa, settings):
    """Kodexa stops answering: the console's address for it now refuses connections; a worker's probe sees it."""
    settings.KODEXA_BASE_URL = f"http://127.0.0.1:{free_port()}"
    status = probe_kodexa()
    assert not status.reachable
    return status


def test_every_page_renders_from_the_cache_under_a_banner(kodexa_down, as_role):
    record = orchestrator_record(status="FAILED", errorMessage="disk full")
    cache_orchestrator(record)
    client = as_role("operator")
    pages = [
        reverse("slices:dashboard"),
        reverse("slices:list", args=["orchestrator"]) + "?status=FAILED",
        reverse("slices:detail", args=["orchestrator", record["id"]]),
        reverse("audit:list"),
        reverse("bulk:list"),
    ]
    for page in pages:
        response = client.get(page)
        body = response.content.decode()
        assert response.status_code == 200, page
        assert BANNER in body and "Kodexa cannot be reached" in body, page
    detail = client.get(reverse("slices:detail", args=["orchestrator", record["id"]])).content.decode()
    assert "disk full" in detail  # the cached copy, shown


def test_an_edit_fails_clearly_is_audited_and_leaves_the_cache_alone(kodexa, kodexa_down, as_role):
    from tests.slices.test_pages import edit_post_data

    record = orchestrator_record(status="FAILED")
    cache_orchestrator(record)
    before = OrchestratorSlice.objects.values().get(id=record["id"])
    url = reverse("slices:orchestrator-edit", args=[record["id"]])
    response = as_role("operator").post(url, edit_post_data(record, status="PENDING"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 502 and "HX-Redirect" not in response  # the form again, with the problem
    assert response["X-Console-Swap"] == "form"  # which the page swaps in despite the status
    assert "Could not reach Kodexa" in body and "Check that the Kodexa deployment is up" in body
    assert kodexa.api_key not in body
    entry = AuditEntry.objects.slice_changes().get(remote_id=record["id"])
    assert entry.outcome == "failed" and entry.response_status is None
    assert OrchestratorSlice.objects.values().get(id=record["id"]) == before


def test_the_banner_goes_once_kodexa_answers_again(kodexa, kodexa_down, as_role, settings):
    client = as_role("viewer")
    assert BANNER in client.get(reverse("slices:dashboard")).content.decode()
    settings.KODEXA_BASE_URL = kodexa.url  # back
    status = probe_kodexa()
    assert status.reachable and status.since > kodexa_down.since
    assert BANNER not in client.get(reverse("slices:dashboard")).content.decode()


def test_a_stale_report_shows_no_banner(kodexa_down, as_role):
    """Nobody has probed Kodexa lately (no worker running): the console does not claim to know."""
    KodexaStatus.objects.update(checked_at=kodexa_down.checked_at.replace(year=2020))
    forget_kodexa_outage()
    assert BANNER not in as_role("viewer").get(reverse("slices:dashboard")).content.decode()
