"""Hostile values in a real browser: nothing from the data runs, a 10,000-character word never widens the page,
an RLO cannot move the console's own controls, and the edit form hands every value back unchanged."""

import re
import uuid
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.cache import cache_records
from tests import nasty
from tests.factories import cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db(transaction=True)

# Installed before any page script runs (through DevTools, so the CSP does not apply to it): anything from the
# data that manages to run a dialog trips it, as does the dialog handler below.
TRAP = """
window.__pwned = [];
for (const name of ["alert", "confirm", "prompt"]) {
  const original = window[name].bind(window);
  window[name] = (...args) => { window.__pwned.push(name + ":" + args.join(",")); return original(...args); };
}
"""
RLO_ID = f"{nasty.RLO}gnp.exe-{uuid.uuid4().hex[:8]}"
PDI_RLO_ID = f"\u2069{nasty.RLO}escaped-{uuid.uuid4().hex[:8]}"  # a stray pop-isolate first: closes a naive isolate
HOSTILE_ERROR = "\n".join([nasty.SCRIPT, nasty.IMG_ONERROR, nasty.STRINGS["textarea-breakout"], nasty.LONG_WORD])


@pytest.fixture
def trapped(page: Page):
    """The page with its traps set: every dialog, navigation and script-URL link is recorded."""
    dialogs: list[str] = []
    navigations: list[str] = []
    page.add_init_script(TRAP)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    yield page
    assert not dialogs, f"a dialog opened: {dialogs}"
    assert not [url for url in navigations if url.startswith(("javascript:", "data:"))]


def assert_nothing_ran(page: Page) -> None:
    assert page.evaluate("window.__pwned") == [], "something from the data called a dialog"
    handlers = page.evaluate(
        """Array.from(document.querySelectorAll('*')).flatMap(el => Array.from(el.attributes)
             .filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name))"""
    )
    assert handlers == [], handlers
    assert page.locator("img, iframe, object, embed").count() == 0
    scripts = page.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))")
    assert all(src and src.startswith("/static/") for src in scripts), scripts
    bad_links = page.evaluate(
        "Array.from(document.querySelectorAll('[href], [src], [action]')).map(el => "
        "el.href || el.src || el.action).filter(u => /^(javascript|data|vbscript):/i.test(String(u)))"
    )
    assert bad_links == [], bad_links


def assert_reads_after(page: Page, first: str, second: str, what: str) -> None:
    """`second` comes after `first` in reading order: further right on the same line, or on a later line."""
    one, two = page.locator(first).bounding_box(), page.locator(second).bounding_box()
    next_line = two["y"] >= one["y"] + one["height"] - 1
    assert next_line or two["x"] >= one["x"] + one["width"] - 1, f"{what}: {one} then {two}"


def assert_no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"] + 2, f"the page is wider than the window: {widths}"


@pytest.fixture
def hostile(kodexa):
    """Every nasty record in the cache, and one more whose id carries an RLO."""
    records = nasty.nasty_records(ORCHESTRATOR_SLICE)
    cache_records(ORCHESTRATOR_SLICE, records)
    rlo = orchestrator_record(id=RLO_ID, status=nasty.STRINGS["rlo"], errorMessage=HOSTILE_ERROR)
    escaping = orchestrator_record(id=PDI_RLO_ID, status=nasty.STRINGS["bidi-isolate-escape"])
    cache_orchestrator(rlo, escaping)
    return {"records": records, "rlo": rlo, "escaping": escaping}


def test_the_list_of_nasty_records_runs_nothing_and_fits_the_window(trapped, sign_in, hostile):
    sign_in("operator")
    for width in (1440, 1024):
        trapped.set_viewport_size({"width": width, "height": 900})
        trapped.goto("/slices/orchestrator/?pageSize=100")
        expect(trapped.locator("#slice-table tbody tr").first).to_be_visible()
        assert_nothing_ran(trapped)
        assert_no_horizontal_overflow(trapped)
    for slice_id in (RLO_ID, PDI_RLO_ID):
        cell = f'#slice-table td.col-id:has(a[title="{slice_id}"])'
        assert_reads_after(trapped, f"{cell} a", f"{cell} button", "the RLO moved the copy button before the id")
    trapped.get_by_label("Search").fill(nasty.SCRIPT)
    trapped.wait_for_url(re.compile(r"q=%3Cscript"))
    expect(trapped.locator("#slice-table tbody tr").first).to_contain_text(nasty.SCRIPT[:20])
    assert_nothing_ran(trapped)
    assert_no_horizontal_overflow(trapped)


def test_the_detail_pages_of_nasty_records_run_nothing_and_fit_the_window(trapped, sign_in, hostile):
    sign_in("operator")
    shown = [hostile["rlo"]] + [
        record
        for record in hostile["records"]
        if record["status"] in (nasty.LONG_WORD, nasty.STRINGS["long-text"], nasty.SCRIPT, nasty.IMG_ONERROR)
        or record["id"].startswith(("deep", "wide"))
    ]
    for record in shown:
        trapped.goto(f"/slices/orchestrator/{quote(record['id'], safe='/')}/")
        expect(trapped.locator("h1")).to_be_visible()
        assert_nothing_ran(trapped)
        assert_no_horizontal_overflow(trapped)
    for slice_id in (RLO_ID, PDI_RLO_ID):
        trapped.goto(f"/slices/orchestrator/{slice_id}/")
        assert_reads_after(trapped, "h1 .mono", "h1 .badge", "the RLO moved the status badge before the id")
        assert_reads_after(trapped, ".crumbs a", ".crumbs .mono", "the RLO moved the breadcrumb")
    trapped.goto(f"/slices/orchestrator/{RLO_ID}/")
    expect(trapped.locator("dd").filter(has_text=nasty.SCRIPT).first).to_be_visible()  # shown as text


def test_the_edit_form_gives_back_a_multi_line_message_and_nasty_values_unchanged(trapped, sign_in, kodexa):
    message = f"first line\nsecond line {nasty.SCRIPT}\n  indented {nasty.STRINGS['rlo']}\n{nasty.TEMPLATE_SYNTAX}"
    record = kodexa.new_orchestrator_slice(
        status="FAILED", errorMessage=message, lambdaRequestId=nasty.IMG_ONERROR, inputEvent=nasty.object_of_strings()
    )
    cache_orchestrator(record)
    sign_in("operator")
    trapped.goto(f"/slices/orchestrator/{record['id']}/edit/")
    assert trapped.get_by_label("Error message").input_value() == message  # no line break lost by the browser
    assert trapped.get_by_label("Lambda request ID").input_value() == nasty.IMG_ONERROR
    assert_nothing_ran(trapped)
    assert_no_horizontal_overflow(trapped)
    trapped.get_by_label("Status", exact=True).fill("PENDING")
    trapped.get_by_role("button", name="Save to Kodexa").click()
    expect(trapped.get_by_text(re.compile(r"Kodexa saved slice .* \(changeSequence now"))).to_be_visible()
    saved = kodexa.get("orchestrator-execution-slices", record["id"])
    assert saved["status"] == "PENDING"
    assert saved["errorMessage"] == message and saved["lambdaRequestId"] == nasty.IMG_ONERROR
    assert saved["inputEvent"] == record["inputEvent"]
    assert_nothing_ran(trapped)
