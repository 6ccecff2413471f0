"""The SQLite file outlives the process: what was stored and changed is there after a restart."""

from tests.sandbox.conftest import ORCHESTRATOR, created_orchestrator_slice


def test_records_and_changes_survive_a_restart(start_sandbox, tmp_path):
    data = tmp_path / "kept.sqlite3"
    first = start_sandbox(data=data)
    stored = created_orchestrator_slice(first, status="PENDING")
    updated = first.put(f"{ORCHESTRATOR}/{stored['id']}", json={**stored, "status": "RUNNING"}).json()
    assert first.stop() == 0
    second = start_sandbox(data=data)
    assert second.get(f"{ORCHESTRATOR}/{stored['id']}").json() == updated
    assert second.get("/_sandbox/stats").json()["putCounts"] == {stored["id"]: 1}
