"""Form posts the console will not read (too large, too many fields) get a readable answer that says the limit: a
page for a form, the message in a header for htmx (which swaps no error answer), JSON under /api/."""

import pytest
from django.urls import reverse

from slices_admin.audit.models import AuditEntry
from slices_admin.slices.models import ExecutionSlice

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def operator_form(kodexa, as_role, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    return as_role("operator")


def oversized_create(client, **extra):
    form = {"status": "PENDING", "inputEvent": '{"blob": "' + "x" * 8000 + '"}'}
    return client.post(reverse("slices:execution-create"), form, **extra)


def test_an_oversized_form_post_is_a_413_page_that_says_the_limit(operator_form, kodexa):
    before = kodexa.request_count()
    response = oversized_create(operator_form)
    assert response.status_code == 413
    body = response.content.decode()
    assert "Too much to send" in body and "4 KiB (4,096 bytes)" in body and "Nothing was saved" in body
    assert kodexa.request_count() == before
    assert not ExecutionSlice.objects.exists() and not AuditEntry.objects.slice_changes().exists()


def test_an_oversized_htmx_post_carries_the_message_for_the_page_to_show(operator_form):
    response = oversized_create(operator_form, **HTMX)
    assert response.status_code == 413
    assert "4 KiB (4,096 bytes), the most the console accepts" in response["X-Console-Message"]


def test_an_oversized_urlencoded_post_is_refused_the_same_way(operator_form):
    body = "status=PENDING&inputEvent=" + "x" * 8000
    response = operator_form.generic(
        "POST", reverse("slices:execution-create"), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413 and "Too much to send" in response.content.decode()


def test_a_form_with_too_many_fields_is_a_readable_400(kodexa, as_role, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    form = {f"field{n}": "x" for n in range(60)}
    response = as_role("operator").post(reverse("slices:execution-create"), form, **HTMX)
    assert response.status_code == 400
    assert "more than 50 fields" in response["X-Console-Message"]


def test_a_form_post_just_under_the_limit_is_read(operator_form):
    form = {"status": "PENDING", "inputEvent": '{"blob": "' + "x" * 3000 + '"}'}
    response = operator_form.post(reverse("slices:execution-create"), form, **HTMX)
    assert response.status_code in (200, 302) and "X-Console-Message" not in response
