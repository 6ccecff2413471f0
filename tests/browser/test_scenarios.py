"""What people do with the console, done in a real browser: each scenario as a user would do it."""

import re

import pytest
from playwright.sync_api import Page, expect

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.sync import sync_slices
from tests.factories import cache_orchestrator

from .conftest import axe_violations

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(kodexa):
    """The sandbox's slices in the cache, as a sync leaves them."""
    sync_slices(ORCHESTRATOR_SLICE, full=True, page_size=500)


def status_cells(page: Page) -> list[str]:
    return page.locator("#slice-table tbody td .badge").all_inner_texts()


def test_sign_in_filter_reload_and_go_back_and_forward_to_the_same_view(page, sign_in, synced):
    sign_in("viewer")
    page.goto("/slices/orchestrator/")
    filters_before = page.locator("#filters").bounding_box()
    page.get_by_role("checkbox", name="FAILED").check()
    page.wait_for_url(re.compile(r"status=FAILED"))
    expect(page.locator("#slice-table tbody tr").first).to_contain_text("FAILED")
    filtered_url = page.url
    assert page.locator("#filters").bounding_box() == filters_before  # the swap below does not move the filters
    failed_rows = status_cells(page)
    assert failed_rows and all("FAILED" in status for status in failed_rows)
    page.reload()
    expect(page.get_by_role("checkbox", name="FAILED")).to_be_checked()
    assert status_cells(page) == failed_rows
    page.get_by_role("link", name=re.compile("^Attempt")).click()  # sort by attempt
    page.wait_for_url(re.compile(r"sort=attemptNumber|sort=-attemptNumber"))
    sorted_url = page.url
    page.go_back()
    page.wait_for_url(filtered_url)
    expect(page.get_by_role("checkbox", name="FAILED")).to_be_checked()
    assert status_cells(page) == failed_rows
    page.go_forward()
    page.wait_for_url(sorted_url)
    expect(page.get_by_role("checkbox", name="FAILED")).to_be_checked()


def test_create_an_execution_slice_fix_a_validation_error_and_succeed(page, sign_in, kodexa):
    sign_in("operator")
    page.goto("/slices/execution/new/")
    page.get_by_label("Slice order").fill("twelve")
    page.get_by_label("Slice order").blur()
    expect(page.get_by_text("Must be a whole number.")).to_be_visible()
    page.get_by_label("Slice order").fill("12")
    page.get_by_label("Status").fill("PENDING")
    page.get_by_role("button", name="Create on Kodexa").click()
    expect(page.get_by_text(re.compile("Kodexa created ExecutionSlice"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/slices/execution/.+/"))


def test_edit_a_slice_someone_else_changed_and_resolve_the_conflict(page, sign_in, kodexa):
    record = kodexa.new_orchestrator_slice(status="FAILED")
    cache_orchestrator(record)
    sign_in("operator")
    page.goto(f"/slices/orchestrator/{record['id']}/edit/")
    kodexa.put(record, errorMessage="fixed upstream by someone else")  # meanwhile, on Kodexa
    page.get_by_label("Status", exact=True).fill("PENDING")
    page.get_by_role("button", name="Save to Kodexa").click()
    expect(page.get_by_role("heading", name="Someone else changed this slice")).to_be_visible()
    expect(page.locator("table.diff")).to_contain_text("fixed upstream by someone else")
    page.get_by_role("button", name="Save to Kodexa").click()  # deliberately, on top of the current version
    expect(page.get_by_text(re.compile(r"Kodexa saved slice .* \(changeSequence now"))).to_be_visible()
    now = kodexa.get("orchestrator-execution-slices", record["id"])
    assert now["status"] == "PENDING" and now["changeSequence"] == record["changeSequence"] + 2


def test_bulk_edit_all_matching_watch_it_finish_and_retry_the_failures(
    page, sign_in, kodexa, failed_slices, start_worker
):
    records = failed_slices(6)
    start_worker()
    sign_in("operator")
    page.goto(f"/slices/orchestrator/?pipelineExecutionId={records[0]['pipelineExecutionId']}")
    expect(page.locator("[data-selected-count]")).to_have_text("0")
    page.get_by_role("checkbox", name="Select every slice on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text("6")
    page.get_by_role("button", name=re.compile("Bulk edit all 6 matching")).click()
    page.get_by_label("Set status to").select_option("PENDING")
    page.get_by_label("Reason").fill("Re-queue after the OCR outage")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("will change to")).to_be_visible()
    kodexa.set_faults(failNext=[{"status": 400, "count": 2, "method": "PUT"}])  # two will be refused
    page.get_by_role("button", name=re.compile("Start: set 6 slices to PENDING")).click()
    page.wait_for_url(re.compile(r"/bulk/\d+/$"))
    expect(page.locator("#job-progress progress")).to_be_visible()
    expect(page.get_by_text("6 of 6 done (100%)")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="2 failed")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retry 2 failed").click()
    expect(page.get_by_text("2 of 2 done (100%)")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="2 succeeded")).to_be_visible()
    assert {kodexa.get("orchestrator-execution-slices", r["id"])["status"] for r in records} == {"PENDING"}


def test_open_an_audit_entry_and_read_its_diff(page, sign_in, kodexa, api):
    record = kodexa.new_orchestrator_slice(status="FAILED", inputEvent={"retries": [1, 2]})
    changes = {"status": "PENDING", "inputEvent": {"retries": [1, 3]}}
    api("operator").patch(f"/api/v1/orchestrator-execution-slices/{record['id']}", changes, format="json")
    sign_in("admin")
    page.goto("/audit/?action=patch")
    page.get_by_role("link", name="Details").first.click()
    expect(page.get_by_role("heading", name=re.compile("Changes, before → after"))).to_be_visible()
    diff = page.locator("table.diff").first
    expect(diff).to_contain_text("status")
    expect(diff).to_contain_text("inputEvent.retries[1]")
    expect(page.get_by_text("Content matches its hash")).to_be_visible()


def test_a_viewer_finds_no_way_to_change_anything(page, sign_in, synced, browser_problems):
    sign_in("viewer")
    page.goto("/slices/orchestrator/")
    expect(page.locator("[data-row-select]")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Bulk edit|Sync"))).to_have_count(0)
    page.locator("#slice-table tbody a.mono").first.click()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    page.goto("/slices/execution/")
    expect(page.get_by_role("link", name="New execution slice")).to_have_count(0)
    page.goto("/bulk/")
    expect(page.get_by_role("link", name="Select slices to edit")).to_have_count(0)
    browser_problems.expect("status of 403")  # typing the address of a change page anyway
    response = page.goto("/bulk/new/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_every_main_page_passes_axe_without_serious_violations(page, sign_in, kodexa, failed_slices, api):
    records = failed_slices(2)
    api("operator").patch(f"/api/v1/orchestrator-execution-slices/{records[0]['id']}", {"status": "RUNNING"},
                          format="json")  # fmt: skip
    user = sign_in("admin")
    pages = [
        "/slices/",
        "/slices/orchestrator/",
        f"/slices/orchestrator/{records[0]['id']}/",
        f"/slices/orchestrator/{records[0]['id']}/edit/",
        "/slices/execution/",
        "/slices/execution/new/",
        "/audit/",
        "/bulk/",
        f"/bulk/new/?scope=filter&filter=pipelineExecutionId={records[0]['pipelineExecutionId']}",
        "/tokens/",
        "/tokens/all/?show=all",
    ]
    from slices_admin.audit.models import AuditEntry
    from slices_admin.audit.services import AuditContext
    from slices_admin.bulk.changes import Change
    from slices_admin.bulk.services import Selection, create_job

    pages.append(f"/audit/{AuditEntry.objects.filter(action='patch').first().pk}/")
    job = create_job(Selection.from_ids([records[1]["id"]]), Change("PENDING", reason="a11y"),
                     context=AuditContext(actor=user))  # fmt: skip
    pages.append(f"/bulk/{job.pk}/")
    from tests.factories import api_token

    api_token(user, name="a11y")  # a row on both token pages
    found = {}
    for scheme in ("light", "dark"):  # the system setting picks one; both must read well
        page.emulate_media(color_scheme=scheme)
        for path in pages:
            page.goto(path)
            violations = axe_violations(page)
            if violations:
                found[f"{path} ({scheme})"] = violations
    page.context.clear_cookies()
    page.goto("/login/")
    if violations := axe_violations(page):
        found["/login/"] = violations
    assert not found, "\n".join(f"{path}: {violations}" for path, violations in found.items())


def test_the_keyboard_moves_through_rows_selects_them_and_lists_the_shortcuts(page, sign_in, failed_slices):
    records = failed_slices(3)
    sign_in("operator")
    page.goto(f"/slices/orchestrator/?pipelineExecutionId={records[0]['pipelineExecutionId']}")
    page.locator("h1").click()  # nothing focused that takes keys
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#slice-table tbody tr.current")).to_have_count(1)
    expect(page.locator("#slice-table tbody tr").nth(1)).to_have_class(re.compile("current"))
    page.keyboard.press("x")
    expect(page.locator("[data-selected-count]")).to_have_text("1")
    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(page.locator("[data-selected-count]")).to_have_text("2")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
