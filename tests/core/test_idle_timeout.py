"""The session idle timeout: idling past the limit signs the user out with a reason, background polling does not
count as activity, and real activity does (without stretching the absolute session age)."""

import time

import pytest
from django.urls import reverse

from slices_admin.core.middleware import ACTIVITY_WRITE_INTERVAL, LAST_ACTIVITY_KEY
from slices_admin.slices.models import SyncRun

HTMX = {"HTTP_HX_REQUEST": "true"}
LIMIT = 30 * 60


@pytest.fixture
def signed_in(client, make_user, settings):
    settings.SESSION_IDLE_SECONDS = LIMIT
    client.force_login(make_user("operator"))
    assert client.get(reverse("slices:dashboard")).status_code == 200  # the first request starts the idle clock
    return client


def idle_for(client, seconds: int) -> None:
    """Move the session's last activity into the past, as if the user had done nothing for `seconds`."""
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - seconds
    session.save()


def last_activity_age(client) -> int:
    return int(time.time()) - client.session[LAST_ACTIVITY_KEY]


def poll_url() -> str:
    run = SyncRun.objects.create(resource="orchestrator-execution-slices", status=SyncRun.Status.RUNNING)
    return reverse("slices:sync-progress", args=[run.pk])


def test_a_session_idle_past_the_limit_is_signed_out_and_told_why(signed_in):
    idle_for(signed_in, LIMIT + 1)
    page = reverse("slices:list", args=["orchestrator"])
    response = signed_in.get(page)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={page}"
    login = signed_in.get(response["Location"])
    assert "signed out after 30 minutes without activity" in login.content.decode()
    assert signed_in.get(reverse("slices:dashboard")).status_code == 302  # signed out for good


def test_an_idle_htmx_request_sends_the_whole_page_to_the_login_page(signed_in):
    idle_for(signed_in, LIMIT + 1)
    page = reverse("slices:list", args=["orchestrator"])
    response = signed_in.get(poll_url(), HTTP_HX_CURRENT_URL=f"http://testserver{page}", **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next={page}"


def test_an_idle_form_post_is_not_sent_back_to_after_signing_in(signed_in):
    idle_for(signed_in, LIMIT + 1)
    response = signed_in.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")


def test_background_polling_does_not_keep_the_session_alive(signed_in):
    url = poll_url()
    idle_for(signed_in, LIMIT - 60)
    assert signed_in.get(url, **HTMX).status_code == 200
    assert last_activity_age(signed_in) >= LIMIT - 60  # the poll was not activity
    idle_for(signed_in, LIMIT + 1)
    assert "HX-Redirect" in signed_in.get(url, **HTMX)


def test_the_bulk_job_progress_poll_is_marked_as_background():
    from slices_admin.bulk.views import job_progress

    assert getattr(job_progress, "background_poll", False)


def test_real_activity_keeps_the_session_alive(signed_in):
    idle_for(signed_in, LIMIT - 60)
    assert signed_in.get(reverse("slices:list", args=["orchestrator"])).status_code == 200
    assert last_activity_age(signed_in) <= 5
    idle_for(signed_in, LIMIT - 60)
    assert signed_in.get(reverse("slices:dashboard")).status_code == 200  # still signed in, and active again


def test_activity_is_written_at_most_about_once_a_minute(signed_in):
    idle_for(signed_in, ACTIVITY_WRITE_INTERVAL - 10)
    signed_in.get(reverse("slices:dashboard"))
    assert last_activity_age(signed_in) >= ACTIVITY_WRITE_INTERVAL - 10  # too recent to write again


def test_activity_does_not_stretch_the_absolute_session_age(signed_in):
    expires = signed_in.session.get_expiry_date()
    idle_for(signed_in, 10 * 60)
    signed_in.get(reverse("slices:dashboard"))
    assert last_activity_age(signed_in) <= 5  # the session was written ...
    assert signed_in.session.get_expiry_date() == expires  # ... and still ends when it would have


def test_no_idle_limit_when_it_is_set_to_zero(signed_in, settings):
    settings.SESSION_IDLE_SECONDS = 0
    idle_for(signed_in, 10 * LIMIT)
    assert signed_in.get(reverse("slices:dashboard")).status_code == 200
