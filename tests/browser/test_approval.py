"""A second pair of eyes on big bulk edits, in a real browser with two people signed in side by side (a context
each): one asks, another approves, rejects or lets it expire; the one who asked may only withdraw. Nothing reaches
Kodexa while a request waits."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext
from slices_admin.bulk import approval
from slices_admin.bulk.changes import Change
from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.bulk.services import Selection, create_job
from tests.factories import cache_orchestrator

pytestmark = pytest.mark.django_db(transaction=True)

THRESHOLD = 3


@pytest.fixture(autouse=True)
def approval_threshold(settings):
    """Edits of more than THRESHOLD slices wait for approval (the live server runs in this process)."""
    settings.BULK_APPROVAL_THRESHOLD = THRESHOLD


@pytest.fixture
def requested(failed_slices):
    """A request to set `n` FAILED slices to PENDING, made by `requester` (as the preview's Start button makes it):
    the job and its slices' records."""

    def make(requester, n: int = 5, reason: str = "Re-queue after the OCR outage"):
        records = failed_slices(n)
        selection = Selection(filter=f"pipelineExecutionId={records[0]['pipelineExecutionId']}")
        job = create_job(selection, Change("PENDING", reason=reason), context=AuditContext(actor=requester))
        assert job.state == BulkEditJob.State.AWAITING_APPROVAL
        return job, records

    return make


def job_state(page: Page):
    return page.locator("#job-progress .badge")


def awaiting_link(page: Page):
    return page.get_by_role("link", name=re.compile(r"awaiting approval$"))


def puts(kodexa, records: list[dict]) -> list[int]:
    counts = kodexa.stats()["putCounts"]
    return [counts.get(record["id"], 0) for record in records]


def job_audit(job: BulkEditJob) -> list[tuple[str, str]]:
    entries = AuditEntry.objects.filter(bulk_job_id=job.pk).order_by("occurred_at", "id")
    return list(entries.values_list("action", "actor_username"))


def submit_form_the_page_does_not_offer(page: Page, url: str, fields: dict[str, str]) -> None:
    """Post `fields` to `url` from the page, with its CSRF token: as a stale or hand-made form would."""
    with page.expect_navigation():
        page.evaluate(
            """([url, fields]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = url;
                const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
                for (const [name, value] of Object.entries({csrfmiddlewaretoken: token, ...fields})) {
                    const input = document.createElement("input");
                    input.type = "hidden";
                    input.name = name;
                    input.value = value;
                    form.append(input);
                }
                document.body.append(form);
                form.submit();
            }""",
            [url, fields],
        )


def test_a_big_edit_waits_until_someone_else_approves_the_count_it_changes_now(
    page, open_page, sign_in, kodexa, failed_slices
):
    records = failed_slices(5)
    requester = sign_in("operator")
    page.goto(f"/bulk/new/?scope=filter&filter=pipelineExecutionId={records[0]['pipelineExecutionId']}")
    page.get_by_label("Set status to").select_option("PENDING")
    page.get_by_label("Reason").fill("Re-queue after the OCR outage")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text(f"It changes more than {THRESHOLD} slices: it waits for another")).to_be_visible()
    page.get_by_role("button", name="Ask for approval to set 5 slices to PENDING").click()
    page.wait_for_url(re.compile(r"/bulk/\d+/$"))
    job = BulkEditJob.objects.get()
    expect(page.get_by_text(f"The edit is bulk edit {job.pk}: it changes more than {THRESHOLD} slices")).to_be_visible()
    expect(job_state(page)).to_have_text("Awaiting approval")
    expect(page.get_by_text("You asked for it: another operator or admin approves it.")).to_be_visible()
    expect(page.locator("#approve-count")).to_have_count(0)
    expect(awaiting_link(page)).to_have_count(0)  # one's own request is not counted as waiting for one
    assert job.items.count() == 0 and job.requested_count == 5
    assert puts(kodexa, records) == [0] * 5

    # Meanwhile someone else sets one of them to PENDING, and a sync caches it: the edit now changes four.
    cache_orchestrator(kodexa.put(records[0], status="PENDING"))

    approver_page = open_page("approver")
    approver = sign_in("admin", on=approver_page)
    expect(awaiting_link(approver_page)).to_have_text("1 awaiting approval")
    awaiting_link(approver_page).click()
    approver_page.wait_for_url(re.compile(r"/bulk/\?state=awaiting_approval$"))
    expect(approver_page.get_by_role("link", name="Awaiting approval (1)")).to_have_attribute("aria-current", "page")
    expect(approver_page.locator("tbody tr")).to_have_count(1)
    expect(approver_page.locator("tbody tr")).to_contain_text(requester.username)
    approver_page.get_by_role("link", name=str(job.pk), exact=True).click()
    approver_page.wait_for_url(re.compile(rf"/bulk/{job.pk}/$"))
    expect(approver_page.get_by_text("Now it changes 4 slices")).to_be_visible()
    expect(approver_page.get_by_text("1 fewer than the 5 asked for")).to_be_visible()
    expect(approver_page.get_by_text("Withdraw the request")).to_have_count(0)

    approver_page.locator("#approve-count").fill("5")  # the count asked for, no longer the count it changes
    approver_page.get_by_role("button", name="Approve").click()
    expect(approver_page.get_by_text("Type 4 (the slices it changes now; 5 when it was asked for)")).to_be_visible()
    expect(job_state(approver_page)).to_have_text("Awaiting approval")
    assert BulkEditJob.objects.get(pk=job.pk).state == BulkEditJob.State.AWAITING_APPROVAL

    approver_page.locator("#approve-count").fill("4")
    approver_page.get_by_role("button", name="Approve").click()
    expect(approver_page.get_by_text(f"Bulk edit {job.pk} approved: 4 slices.")).to_be_visible()
    expect(job_state(approver_page)).to_have_text("Queued")
    expect(approver_page.get_by_text(f"approved by {approver.username} for 4")).to_be_visible()
    expect(approver_page.locator("#approve-count")).to_have_count(0)
    expect(awaiting_link(approver_page)).to_have_count(0)

    job.refresh_from_db()
    assert (job.state, job.approved_by, job.approved_count) == (BulkEditJob.State.QUEUED, approver, 4)
    items = dict(job.items.values_list("slice_id", "state"))
    assert items == {
        records[0]["id"]: BulkEditItem.State.SKIPPED,
        **{record["id"]: BulkEditItem.State.PENDING for record in records[1:]},
    }
    assert job_audit(job) == [
        ("bulk_approval_requested", requester.username),
        ("bulk_approve", approver.username),
        ("bulk_start", approver.username),
    ]
    assert puts(kodexa, records) == [1, 0, 0, 0, 0]  # only the other client's change: the workers send the rest

    # The requester's page, polling every 5 s while the edit waits, reloads itself once it is approved (a reload
    # from here could cut that one short) and shows who approved it.
    expect(page.get_by_text(f"approved by {approver.username} for 4")).to_be_visible(timeout=20_000)
    expect(job_state(page)).to_have_text("Queued")


def test_a_rejected_request_shows_the_requester_why_and_sends_nothing(page, open_page, sign_in, kodexa, requested):
    requester = sign_in("operator")
    job, records = requested(requester)
    page.goto(f"/bulk/{job.pk}/")
    expect(job_state(page)).to_have_text("Awaiting approval")

    reviewer_page = open_page("reviewer")
    reviewer = sign_in("operator", on=reviewer_page)
    reviewer_page.goto(f"/bulk/{job.pk}/")
    reason = "Those failed on bad input: re-queueing them fails them again. Fix the documents first."
    reviewer_page.locator("#reject-reason").fill(reason)
    reviewer_page.get_by_role("button", name="Reject").click()
    expect(reviewer_page.get_by_text(f"Bulk edit {job.pk} rejected: nothing was sent.")).to_be_visible()
    expect(job_state(reviewer_page)).to_have_text("Rejected")

    # The requester's open page sees the job end and reloads itself; reloading again shows the same.
    expect(page.locator("dl.fields")).to_contain_text(f"{reason} ({reviewer.username})")
    page.reload()
    expect(job_state(page)).to_have_text("Rejected")
    expect(page.locator("dl.fields")).to_contain_text(f"{reason} ({reviewer.username})")
    expect(page.get_by_role("button", name="Withdraw the request")).to_have_count(0)
    job.refresh_from_db()
    assert (job.state, job.closed_by, job.closed_note) == (BulkEditJob.State.REJECTED, reviewer, reason)
    assert job.items.count() == 0
    assert puts(kodexa, records) == [0] * 5
    assert job_audit(job) == [("bulk_approval_requested", requester.username), ("bulk_reject", reviewer.username)]
    assert AuditEntry.objects.get(bulk_job_id=job.pk, action="bulk_reject").reason == reason


def test_the_requester_cannot_approve_their_own_edit_but_may_withdraw_it(page, open_page, sign_in, kodexa, requested):
    requester = sign_in("admin")
    job, records = requested(requester)
    page.goto(f"/bulk/{job.pk}/")
    expect(page.get_by_role("button", name="Withdraw the request")).to_be_visible()
    expect(page.locator("#approve-count")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.locator("#reject-reason")).to_have_count(0)

    submit_form_the_page_does_not_offer(page, f"/bulk/{job.pk}/approve/", {"confirm_count": "5"})
    expect(page).to_have_url(re.compile(rf"/bulk/{job.pk}/$"))
    expect(page.locator(".message-error")).to_have_text(approval.SELF_APPROVAL)
    expect(job_state(page)).to_have_text("Awaiting approval")
    job.refresh_from_db()
    assert job.state == BulkEditJob.State.AWAITING_APPROVAL and job.approved_by is None

    colleague_page = open_page("colleague")
    sign_in("operator", on=colleague_page)
    expect(awaiting_link(colleague_page)).to_have_text("1 awaiting approval")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Withdraw the request").click()
    expect(page.get_by_text(f"Bulk edit {job.pk} withdrawn: nothing was sent.")).to_be_visible()
    expect(job_state(page)).to_have_text("Withdrawn")
    expect(page.get_by_role("button", name="Withdraw the request")).to_have_count(0)

    colleague_page.goto(f"/bulk/{job.pk}/")
    expect(job_state(colleague_page)).to_have_text("Withdrawn")
    expect(colleague_page.locator("#approve-count")).to_have_count(0)
    expect(awaiting_link(colleague_page)).to_have_count(0)
    job.refresh_from_db()
    assert job.state == BulkEditJob.State.WITHDRAWN and job.items.count() == 0
    assert puts(kodexa, records) == [0] * 5
    assert job_audit(job) == [("bulk_approval_requested", requester.username), ("bulk_withdraw", requester.username)]


def test_a_request_nobody_answered_in_time_expires_and_can_no_longer_be_approved(
    page, open_page, sign_in, kodexa, requested
):
    requester = sign_in("operator")
    job, records = requested(requester)
    page.goto(f"/bulk/{job.pk}/")
    expires = page.locator("#job-progress time[data-local-time]")
    expect(expires).to_contain_text(" UTC (")  # the expiry in UTC, and in the browser's own time zone
    expect(expires).to_contain_text("your time)")
    page.locator("#job-progress").evaluate("section => section.dataset.old = '1'")
    replaced = page.locator("#job-progress:not([data-old]) time[data-local-time]")  # after the page's next poll
    expect(replaced).to_contain_text("your time)")

    approver_page = open_page("approver")
    sign_in("operator", on=approver_page)
    approver_page.goto(f"/bulk/{job.pk}/")
    expect(approver_page.locator("#approve-count")).to_be_visible()

    BulkEditJob.objects.filter(pk=job.pk).update(approval_expires_at=timezone.now() - timedelta(minutes=1))
    assert approval.expire_requests() == [job.pk]

    approver_page.locator("#approve-count").fill("5")  # the page was open before it expired
    approver_page.get_by_role("button", name="Approve").click()
    expect(approver_page.locator(".message-error")).to_have_text(
        f"Bulk edit {job.pk} is expired: it no longer awaits approval."
    )
    expect(job_state(approver_page)).to_have_text("Expired")
    expect(approver_page.locator("dl.fields")).to_contain_text("Nobody approved it in time.")
    expect(approver_page.locator("#approve-count")).to_have_count(0)
    expect(awaiting_link(approver_page)).to_have_count(0)

    expect(page.locator("dl.fields")).to_contain_text("Nobody approved it in time.")  # it reloaded itself
    page.reload()
    expect(job_state(page)).to_have_text("Expired")
    expect(page.get_by_role("button", name="Withdraw the request")).to_have_count(0)
    job.refresh_from_db()
    assert job.state == BulkEditJob.State.EXPIRED and job.approved_by is None and job.items.count() == 0
    assert puts(kodexa, records) == [0] * 5
    assert job_audit(job) == [("bulk_approval_requested", requester.username), ("bulk_expire", "approval expiry")]
