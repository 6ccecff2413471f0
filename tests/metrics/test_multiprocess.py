"""Multiprocess mode for real: background workers and gunicorn's web workers all count into one directory, any
process's scrape reports the sum (workers recycled or gone included), and the directory starts empty with the
stack that uses it."""

import os
import runpy
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from slices_admin.bulk.models import BulkEditJob
from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE
from slices_admin.metrics import multiprocess
from tests.bulk.jobs import job_for
from tests.conftest import ROOT
from tests.core.test_serve import wait_until_ready
from tests.metrics.exposition import TOKEN, Scrape
from tests.support import wait_for

KODEXA = "slices_console_kodexa_requests_total"
REQUESTS = "slices_console_http_requests_total"
HEALTHZ = {"view": "healthz", "method": "GET", "status": "200"}


def pings_in(path) -> float:
    """The Kodexa probes one process's file holds."""
    return sum(
        sample.value
        for family in MultiProcessCollector.merge([str(path)])
        for sample in family.samples
        if sample.name == KODEXA and sample.labels["operation"] == "ping"
    )


@pytest.mark.django_db(transaction=True)  # the workers see committed rows only
def test_two_background_workers_count_into_one_directory_that_a_scrape_reads_whole(
    kodexa, failed_slices, make_user, start_worker, scrape, settings, tmp_path
):
    settings.BULK_CONFIRM_THRESHOLD = 1000
    directory = multiprocess.prepare(tmp_path / "metrics")
    workers = [start_worker(PROMETHEUS_MULTIPROC_DIR=str(directory)) for _ in range(2)]
    files = [directory / f"counter_{worker.pid}.db" for worker in workers]
    wait_for(lambda: all(file.exists() and pings_in(file) >= 1 for file in files))  # each probes Kodexa as it starts

    records = failed_slices(12)
    job = job_for(records, make_user("operator"))
    wait_for(lambda: BulkEditJob.objects.get(pk=job.pk).state == "finished")

    settings.PROMETHEUS_MULTIPROC_DIR = str(directory)  # this process scrapes what the workers counted
    now = scrape()
    orch = ORCHESTRATOR_SLICE.path
    assert now.total(KODEXA, operation="replace", resource=orch, status="200") == 12  # one PUT a slice, whoever sent
    assert now.total(KODEXA, operation="ping") == sum(pings_in(file) for file in files)
    assert now.value("slices_console_bulk_jobs", state="finished") == 1.0  # and the database's gauges beside them
    assert now.value("slices_console_workers_alive") == 2.0


def stale_healthz_count(directory) -> None:
    """What a previous run left: a process long gone that had answered /healthz a thousand times."""
    directory.mkdir(parents=True, exist_ok=True)
    stale = MmapedDict(str(directory / "counter_999999.db"))
    key = mmap_key(REQUESTS, REQUESTS, ["view", "method", "status"], list(HEALTHZ.values()), "Requests")
    stale.write_value(key, 1000.0, time.time())
    stale.close()


def scrape_of(url: str) -> Scrape:
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return Scrape.parse(response.text)


def test_under_make_serve_every_scrape_sums_all_web_workers_even_recycled_ones_and_the_background_worker(
    serve, serve_env
):
    directory = Path(serve_env["PROMETHEUS_MULTIPROC_DIR"])
    stale_healthz_count(directory)
    # Two web processes, each replaced by a new one after every 5 requests: most answers come from processes that
    # are gone by the time of the scrape.
    serve_env.update(METRICS_TOKEN=TOKEN, GUNICORN_MAX_REQUESTS="5", GUNICORN_MAX_REQUESTS_JITTER="0")
    process, url, output = serve("--web-workers", "2", "--threads", "1")
    assert wait_until_ready(url).status_code == 200, output
    assert not (directory / "counter_999999.db").exists()  # emptied before anything started

    before = scrape_of(url).value(REQUESTS, **HEALTHZ)  # serve's own checks that gunicorn is up
    for _ in range(40):
        with requests.Session() as session:  # a new connection each, so both web processes get some
            assert session.get(f"{url}/healthz", timeout=10).status_code == 200
    scrapes = [scrape_of(url) for _ in range(6)]
    assert {scrape.value(REQUESTS, **HEALTHZ) for scrape in scrapes} == {before + 40}  # whichever process answered
    web_pids = {int(path.stem.split("_")[-1]) for path in directory.glob("counter_*.db")}
    assert len(web_pids) > 3  # recycled processes' counts are still in the sum

    database = serve_env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        (worker_id,) = connection.execute("SELECT worker_id FROM core_workerheartbeat").fetchone()
    worker_file = directory / f"counter_{worker_id.rsplit(':', 1)[1]}.db"
    assert worker_file.exists() and pings_in(worker_file) >= 1  # the background worker writes here too
    assert scrapes[-1].total(KODEXA, operation="ping") >= pings_in(worker_file)

    process.terminate()
    assert process.wait(timeout=60) == 0


def test_gunicorn_started_alone_prepares_var_metrics_and_forgets_its_exited_workers(monkeypatch, tmp_path):
    directory = tmp_path / "var-metrics"
    stale_healthz_count(directory)
    monkeypatch.setattr(multiprocess, "DEFAULT", directory)
    monkeypatch.setenv(multiprocess.VARIABLE, "unset below, restored after")
    monkeypatch.delenv(multiprocess.VARIABLE)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert os.environ[multiprocess.VARIABLE] == str(directory)
    assert not (directory / "counter_999999.db").exists()

    live = directory / "gauge_livesum_4242.db"  # what a live gauge of worker 4242 would keep
    MmapedDict(str(live)).close()
    config["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()


def test_gunicorn_under_make_serve_leaves_the_directory_serve_prepared(monkeypatch, tmp_path):
    directory = tmp_path / "prepared"
    stale_healthz_count(directory)  # here: counts serve's background workers already wrote
    monkeypatch.setenv(multiprocess.VARIABLE, str(directory))
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (directory / "counter_999999.db").exists()


def test_preparing_removes_only_the_files_prometheus_client_writes(tmp_path):
    (tmp_path / "counter_1.db").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("kept")
    assert multiprocess.prepare(tmp_path) == tmp_path
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


COUNT_WITHOUT_A_DIRECTORY = """
import os, shutil, django
django.setup()
from django.test import Client
directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
print("made", os.path.isdir(directory))
shutil.rmtree(directory)
client = Client(HTTP_HOST="127.0.0.1")
print("answers", [client.get("/healthz").status_code for _ in range(3)])
"""


def test_a_missing_directory_is_made_and_one_removed_under_a_process_never_fails_a_request(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "slices_admin.settings", "LOG_FORMAT": "plain"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "not" / "yet")
    done = subprocess.run(
        [sys.executable, "-c", COUNT_WITHOUT_A_DIRECTORY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "made True" in done.stdout and "answers [200, 200, 200]" in done.stdout
    assert done.stderr.count("could not count into the multiprocess directory") == 1  # said once, not per request
