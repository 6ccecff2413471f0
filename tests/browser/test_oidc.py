"""Signing in with the company's identity provider in a real browser: the console on a live server, a real OpenID
Connect provider process (oidc-provider-mock, whose authorization page the person uses), Debian's Chromium."""

import re

import pytest
from playwright.sync_api import Page, expect

from slices_admin.accounts.models import ProviderIdentity
from slices_admin.audit.models import AuditEntry
from tests.browser.conftest import axe_violations
from tests.identity_provider import PROVIDER_NAME

pytestmark = pytest.mark.django_db(transaction=True)

Action = AuditEntry.Action


@pytest.fixture
def idp(identity_provider, oidc, console_url, page):
    """The provider, with the console registered at it under the live server's address. Its pages link a CSS file
    from a CDN: the browser gets an empty one instead (the tests run offline)."""
    oidc(console_url)
    page.context.route("https://cdn.jsdelivr.net/**", lambda route: route.fulfill(body="", content_type="text/css"))
    return identity_provider


def sign_in_with_provider(page: Page, subject: str) -> None:
    """From the console's login page to the provider, as `subject`, and back to the console."""
    page.goto("/login/")
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.get_by_label("Subject").fill(subject)
    page.get_by_role("button", name="Authorize", exact=True).click()


def sign_out_everywhere(page: Page) -> None:
    """Log out of the console, then end the session at the provider, which sends the browser back."""
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="End Session")).to_be_visible()
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile(r"/login/$"))


def role_shown(page: Page):
    return page.locator(".whoami .role")


def test_signing_in_lands_with_the_mapped_role_and_signing_out_ends_the_providers_session(page, idp):
    subject = idp.new_user("console-operators", "everyone", username="olga")
    sign_in_with_provider(page, subject)
    page.wait_for_url(re.compile(r"/slices/$"))
    expect(page.locator(".whoami")).to_contain_text("olga")
    expect(role_shown(page)).to_have_text("operator")
    assert ProviderIdentity.objects.get(user__username="olga").subject == subject
    login = AuditEntry.objects.get(action=Action.LOGIN)
    assert (login.request_body["method"], login.request_body["subject"]) == ("oidc", subject)

    sign_out_everywhere(page)
    expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
    assert axe_violations(page) == []
    assert AuditEntry.objects.filter(action=Action.LOGOUT, actor_username="olga").count() == 1


def test_a_change_of_groups_at_the_provider_changes_the_role_at_the_next_sign_in(page, idp):
    subject = idp.new_user("console-viewers", username="max")
    sign_in_with_provider(page, subject)
    expect(role_shown(page)).to_have_text("viewer")
    sign_out_everywhere(page)

    idp.set_user(subject, preferred_username="max", groups=["console-admins"])
    sign_in_with_provider(page, subject)
    expect(role_shown(page)).to_have_text("admin")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    change = AuditEntry.objects.filter(action=Action.ROLE_CHANGE, remote_id="max").latest("id")
    assert (change.before, change.after) == ({"role": "viewer"}, {"role": "admin"})
    assert change.actor_username == f"{PROVIDER_NAME} (identity provider)" and "console-admins" in change.reason


def test_someone_in_no_mapped_group_is_told_so_and_the_refusal_is_audited(page, idp, browser_problems):
    browser_problems.expect(r"status of 403")
    subject = idp.new_user("everyone", username="nina")
    sign_in_with_provider(page, subject)
    expect(page.get_by_role("heading", name="Not signed in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("none of the groups that give a role in this console")
    assert axe_violations(page) == []
    refused = AuditEntry.objects.get(action=Action.LOGIN_FAILED)
    assert (refused.remote_id, refused.request_body["subject"]) == ("nina", subject)
    page.goto("/slices/")
    page.wait_for_url(re.compile(r"/login/\?next="))


def test_an_answer_with_a_wrong_state_signs_nobody_in(page, idp, browser_problems):
    browser_problems.expect(r"status of 400")
    subject = idp.new_user("console-admins", username="eve")

    def wrong_state(route):
        """The provider's redirect back to the console, with its state changed on the way."""
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        location = re.sub(r"state=[^&]+", "state=not-the-one-sent", answer.headers["location"])
        assert "/oidc/callback/" in location and "code=" in location
        route.fulfill(response=answer, headers={**answer.headers, "location": location})

    page.route(re.compile(r"/oauth2/authorize"), wrong_state)
    sign_in_with_provider(page, subject)
    expect(page.get_by_role("alert")).to_contain_text("does not belong to a sign-in started in this browser")
    page.goto("/slices/")
    page.wait_for_url(re.compile(r"/login/\?next="))
    assert not ProviderIdentity.objects.exists()
    assert AuditEntry.objects.filter(action=Action.LOGIN_FAILED).count() == 1
