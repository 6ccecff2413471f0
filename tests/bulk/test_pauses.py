"""The job-wide pause against the sandbox: a 429 storm and a refused API key waited out, and Kodexa going away
waited for without spending the items' retries."""

import threading
import time

import pytest

from slices_admin.audit.models import AuditEntry
from slices_admin.bulk.models import BulkEditJob
from slices_admin.bulk.pauses import Pauses
from slices_admin.bulk.runner import run_job
from tests.bulk.jobs import assert_applied_once, assert_each_attempt_audited_once, job_for, states
from tests.conftest import start_sandbox, stop
from tests.factories import cache_orchestrator

# The runner's sending threads have database connections of their own: they see committed rows only.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick")]


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The pauses the runner takes, in seconds (the real pause still happens)."""
    taken, pause = [], Pauses.pause

    def spy(pauses, seconds, reason):
        taken.append(seconds)
        return pause(pauses, seconds, reason)

    monkeypatch.setattr(Pauses, "pause", spy)
    return taken


def test_a_429_storm_pauses_the_whole_job_and_is_waited_out(kodexa, failed_slices, operator_user, pauses):
    records = failed_slices(12)
    job = job_for(records, operator_user)
    kodexa.set_faults(failNext=[{"status": 429, "count": 6, "method": "PUT", "retryAfter": 1}])
    run_job(job.pk)
    job.refresh_from_db()
    assert states(job) == {"succeeded": 12}
    assert pauses and set(pauses) == {1.0}  # the Retry-After, honoured job-wide
    assert job.paused_until is None  # cleared when it finished
    limited = AuditEntry.objects.filter(bulk_job_id=job.pk, response_status=429)
    assert limited.count() == 6 and "paused" in limited.first().error
    assert_applied_once(kodexa, records)


def test_a_refused_api_key_pauses_the_job_instead_of_failing_every_slice(
    kodexa, failed_slices, operator_user, settings, pauses
):
    settings.BULK_KEY_REFUSED_PAUSE_SECONDS = 1
    records = failed_slices(5)
    job = job_for(records, operator_user)
    kodexa.set_faults(failNext=[{"status": 401, "count": 3, "method": "PUT"}])
    run_job(job.pk)
    assert states(job) == {"succeeded": 5} and pauses and set(pauses) == {1.0}
    assert AuditEntry.objects.filter(bulk_job_id=job.pk, response_status=401).count() == 3


def test_kodexa_down_pauses_the_job_without_spending_retries_and_it_resumes_when_kodexa_returns(
    tmp_path, operator_user, settings
):
    data, api_key = tmp_path / "kodexa.sqlite3", "kx-outage-test"
    up = start_sandbox(data, api_key)
    port = up.url.rsplit(":", 1)[1]
    settings.KODEXA_BASE_URL, settings.KODEXA_API_KEY, settings.KODEXA_READ_TIMEOUT = up.url, api_key, 2
    settings.BULK_OUTAGE_PROBE_SECONDS, settings.BULK_OUTAGE_PROBE_MAX_SECONDS = 0.2, 0.4
    pipeline = "pipe-outage"
    records = [up.new_orchestrator_slice(status="FAILED", pipelineExecutionId=pipeline) for _ in range(12)]
    cache_orchestrator(*records)
    job = job_for(records, operator_user)
    stop(up.process)  # Kodexa goes away entirely: connections are refused

    runner = threading.Thread(target=run_job, args=(job.pk,))
    runner.start()
    deadline = time.monotonic() + 30
    while "not answering" not in BulkEditJob.objects.get(pk=job.pk).pause_reason:
        assert time.monotonic() < deadline, "the job should have paused"
        time.sleep(0.1)
    time.sleep(1.5)  # several probes find Kodexa still down
    waiting = states(job)  # nothing given up, nothing lost: pending, or claimed and marked in flight ahead of a PUT
    assert sum(waiting.values()) == 12 and set(waiting) <= {"pending", "in_flight"}
    tried = sum(job.items.values_list("attempts", flat=True))
    assert tried <= settings.BULK_CONCURRENCY  # each thread tried once, then waited: no retry storm
    assert all(i.transient_failures == 0 for i in job.items.all())

    back = start_sandbox(data, api_key, "--port", port)  # Kodexa returns, same address, same data
    try:
        runner.join(timeout=60)
        assert not runner.is_alive()
        job.refresh_from_db()
        assert job.state == "finished" and states(job) == {"succeeded": 12}
        assert job.paused_until is None and job.pause_reason == ""
        assert_applied_once(back, records)
        assert_each_attempt_audited_once(job)
        down = AuditEntry.objects.filter(bulk_job_id=job.pk, action="update", outcome="failed")
        assert down.count() == tried and all("Kodexa looks down" in e.error for e in down)
    finally:
        stop(back.process)
