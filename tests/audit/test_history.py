"""A slice's audit history on its page: the audit app's partial, newest first, older entries appended in place."""

import pytest
from django.urls import reverse

from tests.factories import audit_entry, cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db


def test_a_slice_page_shows_its_history_and_loads_older_entries_in_place(as_role, kodexa):
    viewer = as_role("viewer")
    [record] = cache_orchestrator(orchestrator_record())
    written = [
        audit_entry(remote_id=record["id"], before={"status": "A"}, after={"status": f"S{i}"}) for i in range(25)
    ]
    audit_entry(remote_id="someone-else")
    page = viewer.get(reverse("slices:detail", args=["orchestrator", record["id"]]))
    history = page.context["history"]
    assert [e.pk for e in history.entries] == [e.pk for e in reversed(written)][:20] and history.has_older
    older = viewer.get(page.context["history_url"], {"before": history.older_cursor}, HTTP_HX_REQUEST="true")
    body = older.content.decode()
    assert "<html" not in body and body.count("<li>") == 5 and "Show older entries" not in body


def test_a_slice_nothing_was_done_to_says_so_and_links_to_no_trail(as_role):
    [record] = cache_orchestrator(orchestrator_record())
    body = as_role("viewer").get(reverse("slices:detail", args=["orchestrator", record["id"]])).content.decode()
    assert "Nothing has been done to this slice through the console yet." in body
    assert "Open this history in the audit trail" not in body
