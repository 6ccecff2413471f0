"""The soak's database faults: which server it will crash, and how it judges what the web answered meanwhile."""

import glob
import re

import pytest

from bench.soak_database import API, PAGE, Server, check_outages


def outage(during: str, *statuses: int | None, mid_run: bool = True) -> dict:
    probes = [
        {"kind": kind, "status": status, "unavailable": status == 503, "seconds": 0.1}
        for status in statuses
        for kind in (PAGE, API)
    ]
    return {
        "during": during,
        "mid_run": mid_run,
        "down_seconds": 5.0,
        "web_back_after_restart_seconds": 0.3,
        "probes": len(probes),
        "statuses": {PAGE: "", API: ""},
        "probes_not_503": [p for p in probes if not p["unavailable"]],
    }


def test_every_request_answered_the_databases_503_passes():
    checks = check_outages([outage("bulk edit", 503, 503), outage("sync", 503)])
    assert [c["pass"] for c in checks] == [True, True]


@pytest.mark.parametrize("status", [500, 200, None], ids=["a 500", "served as if nothing happened", "no answer"])
def test_any_other_answer_during_an_outage_fails(status):
    web, _crashes = check_outages([outage("bulk edit", 503, status), outage("sync", 503)])
    assert not web["pass"] and "4 of 6 requests" in web["detail"]


def test_a_crash_that_missed_the_work_fails():
    _web, crashes = check_outages([outage("bulk edit", 503), outage("sync", 503, mid_run=False)])
    assert not crashes["pass"] and "sync (NOT mid-run)" in crashes["detail"]


@pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin"), reason="needs PostgreSQL's programs")
def test_the_faults_refuse_a_server_scripts_postgres_does_not_run(monkeypatch):
    monkeypatch.setenv("PG_PORT", "54311")
    with pytest.raises(SystemExit, match=re.escape("not 127.0.0.1:54312")):
        Server("postgres://console@127.0.0.1:54312/console_soak")
