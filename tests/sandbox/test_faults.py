"""Faults switched through `/_sandbox/faults`: the failNext queue, random faults by method and seed, lost
answers, and settings that are validated, updated partially and reset."""

import pytest

from tests.sandbox.conftest import EXECUTION, ORCHESTRATOR, created_orchestrator_slice


def test_fail_next_is_consumed_in_order_by_matching_requests_and_changes_nothing(sandbox):
    stored = created_orchestrator_slice(sandbox)
    path = f"{ORCHESTRATOR}/{stored['id']}"
    queue = [{"status": 503, "count": 2, "method": "PUT"}, {"status": 429, "retryAfter": 4}, {"status": "timeout"}]
    sandbox.put("/_sandbox/faults", json={"failNext": queue, "timeoutSeconds": 0.1})
    assert sandbox.put(path, json=stored).status_code == 503
    assert sandbox.get(path).status_code == 429  # the first entry only matches PUTs
    assert sandbox.put(path, json=stored).status_code == 503
    assert sandbox.get(path).status_code == 504
    assert sandbox.get("/_sandbox/faults").json()["failNext"] == []
    assert sandbox.get(path).json()["changeSequence"] == 1
    assert sandbox.put(path, json=stored).status_code == 200


def test_a_rate_limit_in_fail_next_sends_the_default_retry_after(sandbox):
    sandbox.put("/_sandbox/faults", json={"failNext": [{"status": 429}], "retryAfter": 2})
    response = sandbox.get(EXECUTION)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")


def test_random_faults_only_hit_the_configured_methods(sandbox):
    sandbox.put("/_sandbox/faults", json={"errorRate": 1, "methods": ["put"]})
    assert sandbox.get(EXECUTION).status_code == 200
    stored_id = sandbox.get(ORCHESTRATOR).json()["content"][0]["id"]
    assert sandbox.put(f"{ORCHESTRATOR}/{stored_id}", json={}).status_code == 503


def test_seeded_random_faults_repeat(sandbox):
    def outcomes() -> list[int]:
        sandbox.put("/_sandbox/faults", json={"errorRate": 0.3, "rateLimitRate": 0.3, "seed": 42})
        return [sandbox.get(f"{EXECUTION}?pageSize=1").status_code for _ in range(20)]

    first = outcomes()
    assert set(first) == {200, 429, 503}
    assert outcomes() == first


@pytest.mark.parametrize(
    "settings",
    [
        {"errorRate": 1.5},
        {"errorRate": 0.6, "timeoutRate": 0.6},
        {"latencyMs": -1},
        {"retryAfter": 1.5},
        {"methods": ["FETCH"]},
        {"failNext": [{"status": 200}]},
        {"failNext": [{"status": 503, "count": 0}]},
        {"failNext": {"status": 503}},
        {"seed": "abc"},
        {"errorRat": 0.1},
    ],
)
def test_bad_fault_settings_are_answered_400_and_change_nothing(sandbox, settings):
    response = sandbox.put("/_sandbox/faults", json=settings)
    assert response.status_code == 400
    assert response.json()["errors"]
    assert sandbox.get("/_sandbox/faults").json()["errorRate"] == 0


def test_fault_settings_are_updated_partially_and_reset_by_delete(sandbox):
    updated = sandbox.put("/_sandbox/faults", json={"latencyMs": 5, "latencyJitterMs": 2}).json()
    assert (updated["latencyMs"], updated["latencyJitterMs"], updated["timeoutSeconds"]) == (5, 2, 30)
    again = sandbox.put("/_sandbox/faults", json={"errorRate": 0.1}).json()
    assert (again["latencyMs"], again["errorRate"]) == (5, 0.1)
    reset = sandbox.request("DELETE", "/_sandbox/faults").json()
    assert reset == {
        "latencyMs": 0,
        "latencyJitterMs": 0,
        "errorRate": 0,
        "timeoutRate": 0,
        "timeoutSeconds": 30,
        "rateLimitRate": 0,
        "lostAnswerRate": 0,
        "retryAfter": 1,
        "methods": ["DELETE", "GET", "PATCH", "POST", "PUT"],
        "failNext": [],
        "seed": None,
        "unknownFields": "drop",
    }


def test_a_lost_answer_is_applied_but_answered_504(sandbox):
    record = sandbox.post("/api/orchestrator-execution-slices", json={"status": "FAILED"}).json()
    sandbox.put("/_sandbox/faults", json={"lostAnswerRate": 1, "methods": ["PUT"]})
    lost = sandbox.put(f"/api/orchestrator-execution-slices/{record['id']}", json={**record, "status": "PENDING"})
    sandbox.request("DELETE", "/_sandbox/faults")
    assert lost.status_code == 504
    current = sandbox.get(f"/api/orchestrator-execution-slices/{record['id']}").json()
    assert (current["status"], current["changeSequence"]) == ("PENDING", record["changeSequence"] + 1)
