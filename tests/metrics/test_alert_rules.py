"""deploy/prometheus: the alert rules pass promtool's check and their unit tests (alerts.test.yml), the scrape
config is valid, every series the rules name is one the console exports, and a scrape passes promtool's lint."""

import re
import shutil
import subprocess

import pytest
import yaml
from django.utils import timezone

from slices_admin.core.models import KodexaStatus, WorkerHeartbeat
from slices_admin.kodexa.client import KodexaClient
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.slices.models import SyncRun
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy" / "prometheus"
RULES = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]


def promtool(*args: str, cwd=DEPLOY, stdin: str | None = None) -> subprocess.CompletedProcess:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (scripts/system-packages.sh prometheus)"
    return subprocess.run([found, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60)


def test_the_alert_rules_pass_promtools_check():
    done = promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in done.stdout


def test_the_alert_rules_fire_on_their_unit_tests_series_and_only_then():
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test_that_sees_it_fire():
    tested = yaml.safe_load((DEPLOY / "alerts.test.yml").read_text())["tests"]
    firing = {case["alertname"] for test in tested for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert firing == {rule["alert"] for rule in RULES}


def test_the_scrape_config_is_valid_with_its_token_file_in_place(tmp_path):
    token = tmp_path / "slices-console-token"
    token.write_text("metrics-token-from-the-console-settings\n")
    config = (DEPLOY / "prometheus.yml").read_text().replace("/etc/prometheus/slices-console-token", str(token))
    assert str(token) in config
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout


@pytest.fixture
def full_scrape(scrape, client, scripted):
    """A scrape in which every series the console exports has a sample."""
    now = timezone.now()
    KodexaStatus.objects.create(pk=1, reachable=True, since=now, checked_at=now)
    WorkerHeartbeat.objects.create(worker_id="host:1", started_at=now, seen_at=now)
    SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, status="succeeded", finished_at=now, newest_seen=now)
    scripted.answer(200, {"content": [], "last": True})
    KodexaClient(scripted.url, "kx-key").list(ORCHESTRATOR_SLICE)
    client.get("/healthz")
    return scrape()


@pytest.mark.django_db
def test_every_series_the_rules_name_is_one_the_console_exports(full_scrape):
    named = {name for rule in RULES for name in re.findall(r"\bslices_console_\w+", rule["expr"])}
    assert len(named) >= 8
    assert named <= full_scrape.names(), sorted(named - full_scrape.names())
    for rule in RULES:
        assert rule["labels"]["severity"] in {"page", "ticket"} and rule["annotations"]["summary"], rule["alert"]


@pytest.mark.django_db
def test_a_scrape_passes_promtools_lint_of_metric_names_units_and_help(full_scrape):
    done = promtool("check", "metrics", stdin=full_scrape.text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slices_console" not in done.stdout + done.stderr  # no remark about the console's own series
