"""The database busy or briefly gone (a locked SQLite file, PostgreSQL dropping connections as it restarts): a
request fails cleanly with a 503 saying to try again, the next one succeeds, and workers reconnect."""

import contextlib
import sqlite3
import threading
import time

import pytest
from django.db import OperationalError, connection, connections
from django.test import Client
from django.urls import reverse

from slices_admin.slices.models import SavedView
from slices_admin.worker.management.commands.db_worker import ReconnectingWorker

pytestmark = pytest.mark.django_db(transaction=True)  # the requests' connection is the one that breaks


@contextlib.contextmanager
def database_unavailable():
    """SQLite: another process holds the write lock (and the console's lock wait is short). PostgreSQL: the
    server ends the console's connection, as a restart does."""
    if connection.vendor == "sqlite":
        options = connection.settings_dict["OPTIONS"]
        timeout = options.get("timeout")
        connection.close()
        options["timeout"] = 0.1
        holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            options["timeout"] = timeout
            connection.close()
    else:
        connection.ensure_connection()
        terminate(connection.connection.info.backend_pid)
        yield


def terminate(*pids: int) -> None:
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=db["NAME"]
    ) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_write_while_the_database_is_unavailable_gets_a_503_and_the_next_succeeds(make_user):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("operator"))
    url = reverse("slices:saved-view-create", args=["orchestrator"])
    with database_unavailable():
        refused = client.post(url, {"name": "Failed", "query": "status=FAILED"})
    body = refused.content.decode()
    assert refused.status_code == 503 and refused["Retry-After"] == "5"
    assert "database is not answering" in body and "Try again in a few seconds" in body
    assert "Traceback" not in body and "OperationalError" not in body
    assert not SavedView.objects.exists()

    saved = client.post(url, {"name": "Failed", "query": "status=FAILED"})
    assert saved.status_code == 302 and SavedView.objects.get().name == "Failed"


def test_the_api_answers_503_in_json(api):
    client = api("operator")
    client.raise_request_exception = False
    with database_unavailable():
        body = {"ids": ["a"], "targetStatus": "PENDING", "reason": "x"}
        refused = client.post("/api/v1/bulk-edits", body, format="json")
    assert refused.status_code == 503 and refused.json()["code"] == "database_unavailable"
    assert client.get("/api/v1/bulk-edits").status_code == 200


def test_a_worker_reconnects_after_the_database_went_away(monkeypatch):
    """The worker loop meets a database error that is not a lock (the server gone): it waits, reconnects and
    goes on taking tasks instead of exiting."""
    from django_tasks_db.models import DBTaskResult

    worker = ReconnectingWorker(
        queue_names=["default"], interval=0.05, batch=False, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="reconnecting", excluded_queue_names=[],
    )  # fmt: skip
    calls = []
    real_ready = DBTaskResult.objects.ready

    def ready_unless_gone():
        calls.append(time.monotonic())
        if len(calls) <= 2:  # the first two polls meet a database that went away
            if connection.vendor == "postgresql":
                connection.ensure_connection()
                terminate(connection.connection.info.backend_pid)  # the real thing: the next query fails
            else:
                raise OperationalError("disk I/O error")
        return real_ready()

    monkeypatch.setattr(DBTaskResult.objects, "ready", ready_unless_gone)

    def work():
        try:
            worker.run()
        finally:
            connections.close_all()  # this thread's own

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while len(calls) < 6:  # it failed twice, waited, reconnected and went on polling
        assert thread.is_alive(), "the worker should have lived through it"
        assert time.monotonic() < deadline, f"the worker stopped polling after {len(calls)} polls"
        time.sleep(0.05)
    worker.running = False
    thread.join(timeout=10)
    assert not thread.is_alive()
