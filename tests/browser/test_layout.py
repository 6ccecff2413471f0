"""How pages lay out what people read, measured in a real browser at a desktop width (1440 px) and a phone's (390):
whole statuses, key paths on one line, payloads with room, ids unbroken, nothing wider than the screen."""

import json

import pytest
from playwright.sync_api import Page

from slices_admin.audit.services import AuditContext, record_attempt
from tests.factories import cache_orchestrator, orchestrator_record

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
LONG_STEPS = {
    "steps": [
        {
            "name": f"step-{n}",
            "command": "python -m pipelines.extract --source s3://bucket/tenant/documents --batch-size 500 --retry 3",
        }
        for n in range(3)
    ]
}


def clipped(page: Page, selector: str) -> list[str]:
    """The texts of the matching elements that do not fit their box (cut off or ellipsised)."""
    return page.eval_on_selector_all(
        selector, "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"
    )


def lines_of(page: Page, selector: str) -> int:
    """How many lines the first matching element's text runs over."""
    return page.eval_on_selector(
        selector,
        """el => {
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), tops = [];
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const range = document.createRange();
                range.selectNodeContents(node);
                for (const rect of range.getClientRects()) if (rect.width > 0) tops.push(rect.top);
            }
            return tops.sort((a, b) => a - b).filter((top, i) => i === 0 || top - tops[i - 1] > 3).length;
        }""",
    )


def page_overflows(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")


def test_long_statuses_are_shown_whole_in_the_list_and_its_filters(page, sign_in):
    cache_orchestrator(
        orchestrator_record(status="PENDING_REPROCESSING"),
        orchestrator_record(status="CANCELLING"),
        orchestrator_record(status="REPROCESSED"),
    )
    sign_in("viewer")
    page.goto("/slices/orchestrator/")
    table = page.locator("#slice-table tbody .badge").all_inner_texts()
    assert any("PENDING_REPROCESSING" in text for text in table)
    assert clipped(page, "#slice-table .badge") == []
    assert clipped(page, "#filters .badge") == []
    assert page.locator("#filters .badge", has_text="PENDING_REPROCESSING").is_visible()


def test_an_audit_entrys_key_paths_read_on_one_line_and_wrap_on_a_phone(page, sign_in):
    before = orchestrator_record(stepsConfig={"retries": {"maximumAttemptsBeforeGivingUp": 3}})
    after = {**before, "changeSequence": 2, "stepsConfig": {"retries": {"maximumAttemptsBeforeGivingUp": 5}}}
    entry = record_attempt(
        AuditContext(actor_name="ann"),
        action="update",
        outcome="succeeded",
        resource="orchestrator-execution-slices",
        remote_id=before["id"],
        request_body=after,
        response_status=200,
        response_body=after,
        before=before,
        after=after,
    )
    sign_in("viewer")
    page.goto(f"/audit/{entry.pk}/")
    sequence = page.locator("table.diff th.key-path", has_text="changeSequence").first
    assert sequence.is_visible()
    assert lines_of(page, "table.diff th.key-path >> nth=0") == 1
    for index in range(page.locator("table.diff >> nth=0 >> th.key-path").count()):
        assert lines_of(page, f"table.diff >> nth=0 >> th.key-path >> nth={index}") == 1
    page.set_viewport_size(PHONE)
    assert not page_overflows(page)
    width = page.eval_on_selector("table.diff th.key-path", "el => el.getBoundingClientRect().width")
    assert width > 300  # the key path runs across the phone's width, above its before and after


def test_a_slices_payloads_get_the_width_and_its_ids_stay_on_one_line(page, sign_in):
    record = cache_orchestrator(orchestrator_record(stepsConfig=LONG_STEPS))[0]
    sign_in("viewer")
    page.goto(f"/slices/orchestrator/{record['id']}/")
    main = page.eval_on_selector("main", "el => el.clientWidth")
    payload = page.eval_on_selector("#json-stepsConfig", "el => el.getBoundingClientRect().width")
    assert payload > 0.75 * main, (payload, main)
    assert lines_of(page, "#json-stepsConfig") == len(json.dumps(LONG_STEPS, indent=2).splitlines())  # none wraps
    identity = page.locator("section.card", has=page.get_by_role("heading", name="Identity"))
    ids = identity.locator(".one-line")
    assert ids.count() >= 2
    for index in range(ids.count()):
        assert lines_of(page, f"section.card:has(h2:text-is('Identity')) .one-line >> nth={index}") == 1
    assert clipped(page, "section.card:has(h2:text-is('Identity')) .one-line") == []
    page.set_viewport_size(PHONE)
    assert not page_overflows(page)
