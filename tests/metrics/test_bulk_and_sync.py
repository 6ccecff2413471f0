"""Scrapes while the console works: a bulk edit against the sandbox process, and a sync from it."""

import threading

import pytest
from django.utils import timezone

from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.runner import run_job
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import SyncRun
from slices_admin.slices.sync import perform_sync
from tests.bulk.jobs import job_for
from tests.support import wait_for

ORCH = ORCHESTRATOR_SLICE.path
KODEXA = "slices_console_kodexa_requests_total"
JOBS = "slices_console_bulk_jobs"
ITEMS = "slices_console_bulk_open_job_items"


def by_state(scrape, name: str) -> dict[str, float]:
    return {labels["state"]: value for labels, value in scrape.matching(name)}


# The runner's sending threads have database connections of their own: they see committed rows only.
@pytest.mark.django_db(transaction=True)
def test_a_bulk_edit_is_seen_running_its_items_and_puts_moving_then_finished(
    kodexa, failed_slices, make_user, scrape, settings
):
    settings.BULK_CONFIRM_THRESHOLD = 1000
    records = failed_slices(20)
    job = job_for(records, make_user("operator"))
    BulkEditJob.objects.filter(pk=job.pk).update(concurrency=2)
    kodexa.set_faults(latencyMs=150, methods=["PUT"])
    before = scrape()
    assert by_state(before, JOBS)["queued"] == 1 and by_state(before, ITEMS)["pending"] == 20
    assert before.value("slices_console_tasks_ready", queue="default") >= 1  # its runner waits for a worker
    puts = before.total(KODEXA, operation="replace", resource=ORCH, status="200")

    runner = threading.Thread(target=run_job, args=(job.pk,))
    runner.start()
    try:
        wait_for(lambda: job.items.filter(state="succeeded").count() >= 4)
        during = scrape()
    finally:
        runner.join(timeout=60)
    assert by_state(during, JOBS)["running"] == 1 and by_state(during, JOBS)["queued"] == 0
    items = by_state(during, ITEMS)
    assert items["succeeded"] >= 4 and items["pending"] + items["in_flight"] >= 1 and sum(items.values()) == 20
    assert during.total(KODEXA, operation="replace", resource=ORCH, status="200") >= puts + 4
    assert during.value("slices_console_bulk_longest_stall_seconds") < 5

    after = scrape()
    assert by_state(after, JOBS)["finished"] == 1 and by_state(after, JOBS)["running"] == 0
    assert set(by_state(after, ITEMS).values()) == {0.0}  # an ended job's items leave the watch
    assert after.total(KODEXA, operation="replace", resource=ORCH, status="200") == puts + 20  # one PUT each
    assert after.value("slices_console_bulk_longest_stall_seconds") == 0.0


@pytest.mark.django_db
def test_a_sync_counts_its_list_reads_and_resets_the_sync_ages(kodexa, scrape):
    before = scrape()
    assert before.value("slices_console_sync_last_success_age_seconds", resource=ORCH) is None
    lists = before.total(KODEXA, operation="list", resource=ORCH, status="200")

    run = perform_sync(SyncRun.objects.create(resource=ORCH, mode="full"), page_size=100)
    after = scrape()
    assert run.status == "succeeded" and run.pages >= 3  # the sandbox holds 300 and more
    assert after.total(KODEXA, operation="list", resource=ORCH, status="200") == lists + run.pages
    assert after.value("slices_console_sync_last_success_age_seconds", resource=ORCH) < 30
    newest = (timezone.now() - run.newest_seen).total_seconds()
    assert after.value("slices_console_sync_newest_record_age_seconds", resource=ORCH) == pytest.approx(newest, abs=5)
