"""Personal API tokens in a real browser: create one, copy it from the only answer that shows it, use it, revoke it."""

import re

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_TEXT = re.compile(r"slc_[0-9a-f]{10}_[0-9a-f]{64}")


def test_create_copy_use_and_revoke_a_token(page, sign_in, console_url):
    sign_in("operator")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_url)
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Name").fill("nightly retry")
    page.get_by_label("Expires in").select_option(label="7 days")
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("#new-token-text")
    expect(shown).to_have_text(TOKEN_TEXT)
    text = shown.inner_text()
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == text
    row = page.locator("tr", has_text="nightly retry")
    expect(row).to_contain_text("never")

    answer = requests.get(f"{console_url}/api/v1/audit", headers={"Authorization": f"Token {text}"}, timeout=30)
    assert answer.status_code == 200
    page.reload()
    expect(page.locator("#new-token-text")).to_have_count(0)
    assert text not in page.content()
    expect(row).not_to_contain_text("never")  # its last use is listed now

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked the API token “nightly retry”")).to_be_visible()
    expect(page.locator("tr", has_text="nightly retry")).to_contain_text("Revoked")
    refused = requests.get(f"{console_url}/api/v1/audit", headers={"Authorization": f"Token {text}"}, timeout=30)
    assert refused.status_code == 401 and "was revoked on" in refused.json()["detail"]


def test_cancelling_the_confirmation_keeps_the_token(page, sign_in):
    sign_in("viewer")
    page.goto("/tokens/")
    page.get_by_label("Name").fill("keep me")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token-text")).to_have_text(TOKEN_TEXT)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("tr", has_text="keep me").get_by_role("button", name="Revoke").click()
    page.reload()
    expect(page.locator("tr", has_text="keep me")).to_contain_text("Active")


def test_an_empty_name_is_pointed_out_on_the_form(page, sign_in):
    sign_in("viewer")
    page.goto("/tokens/")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Name the token")).to_be_visible()
    expect(page.locator("#new-token-text")).to_have_count(0)
