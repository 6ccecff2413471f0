"""`/readyz`: ready only when the database answers, its migrations are applied, Kodexa answers and a background
worker is alive; otherwise 503 naming the check that failed, with a short reason and nothing secret."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from bench.support import free_port  # nothing listens there once it is free
from slices_admin.core import readiness
from slices_admin.core.models import KodexaStatus, WorkerHeartbeat
from slices_admin.core.services import forget_worker, probe_kodexa, record_worker_heartbeat, this_worker_id

ALL_OK = {name: {"ok": True} for name in ("database", "migrations", "kodexa", "worker")}


@pytest.fixture(autouse=True)
def _fresh_readiness(monkeypatch):
    """Each test asks afresh: no Kodexa answer or migration verdict carried over from another test."""
    readiness.forget_kodexa_answer()
    monkeypatch.setattr(readiness, "_migrations_applied", False)
    yield
    readiness.forget_kodexa_answer()


@pytest.fixture
def worker_alive(db):
    record_worker_heartbeat("test-host:1", timezone.now())


def test_ready_when_every_check_passes(client, kodexa, worker_alive):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": ALL_OK}
    assert "no-cache" in response["Cache-Control"]


def test_kodexa_down_is_not_ready_and_says_so_without_its_address(client, kodexa, worker_alive, settings):
    port = free_port()
    settings.KODEXA_BASE_URL = f"http://127.0.0.1:{port}"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["kodexa"] == {"ok": False, "reason": "Kodexa cannot be reached."}
    assert body["checks"]["database"] == {"ok": True} and body["checks"]["worker"] == {"ok": True}
    assert str(port) not in response.content.decode() and kodexa.api_key not in response.content.decode()

    settings.READYZ_REQUIRED = ["database", "migrations", "worker"]  # serve cached pages through the outage
    response = client.get(reverse("readyz"))
    assert response.status_code == 200 and response.json()["status"] == "ready"
    assert response.json()["checks"]["kodexa"]["ok"] is False  # still reported


def test_kodexa_refusing_the_key_is_not_ready(client, kodexa, worker_alive, settings):
    settings.KODEXA_API_KEY = "not-the-key"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["checks"]["kodexa"] == {"ok": False, "reason": "Kodexa refused the console's API key."}
    assert "not-the-key" not in response.content.decode()


def test_kodexa_server_errors_are_not_ready(client, kodexa, worker_alive):
    kodexa.set_faults(failNext=[{"status": 503, "count": 1}])
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["checks"]["kodexa"]["ok"] is False


def test_load_balancer_polling_reaches_kodexa_once_per_few_seconds(client, kodexa, worker_alive, settings):
    settings.READYZ_KODEXA_CACHE_SECONDS = 60
    client.get(reverse("readyz"))
    before = kodexa.request_count()
    for _ in range(5):
        assert client.get(reverse("readyz")).status_code == 200
    assert kodexa.request_count() == before


def test_kodexa_is_asked_again_once_the_answer_is_old(client, kodexa, worker_alive, settings):
    settings.READYZ_KODEXA_CACHE_SECONDS = 0.2
    client.get(reverse("readyz"))
    kodexa.set_faults(failNext=[{"status": 500, "count": 1}])
    time.sleep(0.3)
    assert client.get(reverse("readyz")).status_code == 503


def recorded_by_a_worker(*, reachable: bool, seconds_ago: float = 0) -> None:
    checked = timezone.now() - timedelta(seconds=seconds_ago)
    reason = "" if reachable else "Kodexa cannot be reached."
    KodexaStatus.objects.create(pk=1, reachable=reachable, reason=reason, since=checked, checked_at=checked)


def test_a_recent_worker_record_of_kodexa_answers_without_a_probe(client, kodexa, worker_alive):
    recorded_by_a_worker(reachable=False, seconds_ago=5)
    before = kodexa.request_count()
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["checks"]["kodexa"] == {"ok": False, "reason": "Kodexa cannot be reached."}
    assert kodexa.request_count() == before


def test_a_worker_record_that_is_not_recent_is_replaced_by_a_probe(client, kodexa, worker_alive, settings):
    recorded_by_a_worker(reachable=False, seconds_ago=settings.WORKER_HEARTBEAT_STALE_SECONDS + 1)
    before = kodexa.request_count()
    assert client.get(reverse("readyz")).json()["checks"]["kodexa"] == {"ok": True}
    assert kodexa.request_count() > before


def test_a_worker_probe_asks_kodexa_rather_than_reading_the_record(kodexa, db):
    recorded_by_a_worker(reachable=False)
    status = probe_kodexa()
    assert status.reachable and KodexaStatus.objects.get().reachable


def test_no_worker_heartbeat_is_not_ready(client, kodexa, db):
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["ok"] is False and "worker" in worker["reason"]


def test_a_stale_worker_heartbeat_is_not_ready(client, kodexa, db, settings):
    record_worker_heartbeat("test-host:1", timezone.now())
    WorkerHeartbeat.objects.update(
        seen_at=timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS + 1)
    )
    assert client.get(reverse("readyz")).json()["checks"]["worker"]["ok"] is False


def test_unapplied_migrations_are_not_ready(client, kodexa, worker_alive, monkeypatch):
    monkeypatch.setattr(readiness, "unapplied_migrations", lambda: ["core.0002_future"])
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"]["reason"].startswith("1 migration(s) not applied")


def test_migrations_once_applied_are_not_read_again(client, kodexa, worker_alive, monkeypatch):
    assert client.get(reverse("readyz")).status_code == 200
    monkeypatch.setattr(readiness, "unapplied_migrations", lambda: pytest.fail("read the migrations again"))
    assert client.get(reverse("readyz")).status_code == 200


def test_a_database_failure_is_reported_without_its_detail(client, kodexa, db, monkeypatch):
    class Refusing:
        def cursor(self):
            raise OperationalError('password authentication failed for user "console" at db.internal')

    monkeypatch.setattr(readiness, "connections", {"default": Refusing()})
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "reason": "The database is unreachable."}
    assert checks["migrations"]["ok"] is False and checks["worker"]["ok"] is False
    assert "password" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_readyz_needs_no_login(client, kodexa, worker_alive):
    assert client.get(reverse("readyz")).status_code == 200  # the test client is anonymous


def test_heartbeats_of_workers_silent_for_a_day_are_forgotten(db):
    record_worker_heartbeat("gone:1", timezone.now())
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(days=1, minutes=1))
    record_worker_heartbeat("alive:2", timezone.now())
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["alive:2"]


def test_a_heartbeat_updates_the_row_and_keeps_the_start(db):
    started = timezone.now() - timedelta(hours=1)
    record_worker_heartbeat("host:7", started)
    record_worker_heartbeat("host:7", timezone.now())
    row = WorkerHeartbeat.objects.get()
    assert row.started_at == started and timezone.now() - row.seen_at < timedelta(seconds=5)
    forget_worker("host:7")
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_running_db_worker_keeps_a_heartbeat_and_removes_it_when_stopped(start_worker):
    worker = start_worker(BULK_SWEEP_SECONDS="0.2")
    worker_id = f"{this_worker_id().rsplit(':', 1)[0]}:{worker.pid}"
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.filter(worker_id=worker_id).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    first = WorkerHeartbeat.objects.get(worker_id=worker_id).seen_at
    while WorkerHeartbeat.objects.get(worker_id=worker_id).seen_at == first and time.monotonic() < deadline:
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.get(worker_id=worker_id).seen_at > first  # it beats, not just once
    worker.terminate()
    assert worker.wait(timeout=20) == 0
    assert not WorkerHeartbeat.objects.filter(worker_id=worker_id).exists()
