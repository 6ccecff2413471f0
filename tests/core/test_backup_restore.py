"""Backup and restore on PostgreSQL: a console database with a finished bulk job, `pg_dump`ed and restored into a
fresh database with `pg_restore`, is served by a console process pointed at it, keeps the audit table's append-only
triggers, and passes `verify_audit`, with a checkpoint taken before the dump too. (PostgreSQL only: `make
test-postgres` runs it.)"""

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from glob import glob
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench.support import free_port
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.bulk.runner import run_job
from tests.bulk.jobs import job_for, states
from tests.conftest import ROOT, database_url
from tests.support import wait_for

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="pg_dump and pg_restore need PostgreSQL: run with DATABASE_URL=postgres://… (make test-postgres)",
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("quick"),
]

KEY = "backup-checkpoint-" + "k8W" * 12


def program(name: str) -> str:
    """Debian's binary for the server's major version (as scripts/postgres.sh finds them), else the newest."""
    major = connection.pg_version // 10000  # type: ignore[attr-defined]
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda path: int(Path(path).parts[-3]))
    matching = [path for path in found if Path(path).parts[-3] == str(major)]
    assert found, f"{name} is not installed: apt-get install postgresql-client"
    return (matching or found)[-1]


def client_arguments(name: str) -> list[str]:
    db = connection.settings_dict
    return ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"], "-d", name]


def client_env() -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": connection.settings_dict["PASSWORD"] or ""}


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=client_env(), capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def restored_database() -> Iterator[str]:
    """The name of a fresh, empty database on the test server, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restored_{uuid.uuid4().hex[:8]}"
    made = run(program("createdb"), *client_arguments(name)[:-2], name)
    assert made.returncode == 0, made.stderr
    yield name
    dropped = run(program("dropdb"), "--force", *client_arguments(name)[:-2], name)
    assert dropped.returncode == 0, dropped.stderr


@pytest.fixture
def console_on() -> Iterator:
    """Start a console web process (gunicorn) with these settings (its database among them); stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> str:
        address = f"127.0.0.1:{free_port()}"
        command = [sys.executable, "-m", "gunicorn", "slices_admin.wsgi:application", "--bind", address]
        process = subprocess.Popen(
            [*command, "--workers", "1", "--threads", "2"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # gunicorn and its worker, stopped together
        )
        started.append(process)

        def answers() -> bool:
            assert process.poll() is None, "the console process exited"
            try:
                return requests.get(f"http://{address}/healthz", timeout=10).status_code == 200
            except requests.RequestException:  # not listening yet, or still loading the console
                return False

        wait_for(answers, timeout=60, every=0.2)
        return f"http://{address}"

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_a_restored_dump_serves_the_finished_job_keeps_its_triggers_and_verifies_against_a_checkpoint(
    kodexa, failed_slices, operator_user, client, tmp_path, restored_database, console_on
):
    records = failed_slices(6)
    job = job_for(records, operator_user)
    assert run_job(job.pk) == "finished"
    assert states(job) == {"succeeded": 6}
    client.force_login(operator_user)  # a session row: the restored console must know it
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    settings.AUDIT_CHECKPOINT_KEY = KEY
    call_command("audit_checkpoint", output=str(tmp_path / "checkpoint.json"), stdout=StringIO())
    entries = AuditEntry.objects.count()

    dump = tmp_path / "console.dump"
    dumped = run(
        program("pg_dump"), "--format=custom", "--file", str(dump), *client_arguments(connection.settings_dict["NAME"])
    )
    assert dumped.returncode == 0, dumped.stderr
    restored = run(
        program("pg_restore"), "--exit-on-error", "--no-owner", *client_arguments(restored_database), str(dump)
    )
    assert restored.returncode == 0, restored.stderr
    # The original moves on: one more entry, and the session signed out (its row deleted) there, not in the copy.
    record_attempt(AuditContext.system("after the dump"), action="sync", outcome="succeeded", resource="x")
    client.logout()

    url = database_url({**connection.settings_dict, "NAME": restored_database})
    env = {"DATABASE_URL": url, "AUDIT_CHECKPOINT_KEY": KEY, "KODEXA_BASE_URL": kodexa.url}
    env |= {"KODEXA_API_KEY": kodexa.api_key, "KODEXA_SANDBOX": "1", "DJANGO_SECRET_KEY": settings.SECRET_KEY}

    def manage(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)

    verified = manage("verify_audit", "--checkpoint", str(tmp_path / "checkpoint.json"))
    assert verified.returncode == 0, verified.stderr
    assert f"{entries} entries verified" in verified.stdout  # the copy, without the entry written after the dump
    assert "0 entries were written after it" in verified.stdout
    assert manage("migrate", "--check").returncode == 0  # nothing left to apply: the schema came back whole

    for statement in ("DELETE FROM audit_auditentry", "UPDATE audit_auditentry SET reason = 'x'",
                      "TRUNCATE audit_auditentry"):  # fmt: skip
        refused = run(program("psql"), *client_arguments(restored_database), "-c", statement)
        assert refused.returncode != 0 and "audit entries are append-only" in refused.stderr, statement

    console = console_on(env)
    page = requests.get(f"{console}/bulk/{job.pk}/", cookies={settings.SESSION_COOKIE_NAME: session}, timeout=30)
    assert page.status_code == 200 and page.url == f"{console}/bulk/{job.pk}/"  # signed in, not sent to the login
    assert job.reason in page.text and 'class="badge job-finished"' in page.text
    assert page.text.count('class="badge item-succeeded"') == 6
    for record in records:
        assert record["id"] in page.text
