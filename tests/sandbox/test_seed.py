"""The seeded demo data looks like production: statuses, leases, failures, executions and organizations."""

from collections import Counter
from datetime import UTC, datetime

from tests.sandbox.conftest import EXECUTION, ORCHESTRATOR, SEEDED, all_pages, parse


def test_seed_data_looks_like_production(sandbox):
    now = datetime.now(UTC)
    seeded = [record for record in all_pages(sandbox, ORCHESTRATOR) if record["moduleRuntimeId"]]  # not a test's
    assert len(seeded) == SEEDED
    statuses = Counter(record["status"] for record in seeded)
    assert set(statuses) >= {"SUCCEEDED", "FAILED", "RUNNING", "PENDING", "REQUESTED", "SKIPPED", "CANCELLED"}
    assert statuses.most_common(1)[0][0] == "SUCCEEDED"
    running = [r for r in seeded if r["status"] == "RUNNING"]
    expired = [r for r in running if r["completedAt"] is None and parse(r["leaseExpiresAt"]) < now]
    assert 0 < len(expired) < len(running)
    failed = [r for r in seeded if r["status"] == "FAILED"]
    assert all(r["errorMessage"] and {"type", "traceback", "retryable"} <= set(r["errorDetails"]) for r in failed)
    assert len({r["errorMessage"] for r in failed}) >= 10
    executions = Counter(r["pipelineExecutionId"] for r in seeded)
    assert 10 <= len(seeded) / len(executions) <= 20
    assert len({r["organizationId"] for r in seeded}) == 6
    for record in seeded:
        moments = [
            parse(record[name])
            for name in ("createdOn", "queuedAt", "leasedAt", "startedAt", "completedAt")
            if record[name]
        ]
        assert moments == sorted(moments)
        assert record["stepStartOrder"] <= record["stepEndOrder"]
        assert 1 <= record["attemptNumber"] <= 3
    execution_slices = all_pages(sandbox, EXECUTION, filter=f"organizationId eq '{seeded[0]['organizationId']}'")
    started = [r for r in execution_slices if r["startedAt"]]
    assert started and all(r["logGroup"].startswith("/aws/lambda/") and r["logStream"] for r in started)
