"""Every request the client sends to Kodexa is counted and timed (`metrics.series`): by operation, resource and
the status of its answer, or why none came. Retries are requests too. Against a real HTTP server on 127.0.0.1."""

import math

import pytest
from prometheus_client import REGISTRY

from bench.support import free_port
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from tests.factories import orchestrator_record

ORCH = ORCHESTRATOR_SLICE.path


def requests_sent(operation: str, resource: str, status: str) -> float:
    labels = {"operation": operation, "resource": resource, "status": status}
    return REGISTRY.get_sample_value("slices_console_kodexa_requests_total", labels) or 0.0


def timed(operation: str, resource: str) -> tuple[float, float]:
    labels = {"operation": operation, "resource": resource}
    count = REGISTRY.get_sample_value("slices_console_kodexa_request_duration_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("slices_console_kodexa_request_duration_seconds_sum", labels) or 0.0
    return count, total


def client_for(url: str, **kwargs) -> KodexaClient:
    options = {"read_timeout": 0.5, "connect_timeout": 0.5, "max_retries": 2, "max_retry_wait": 2}
    return KodexaClient(url, "kx-metrics-key", sleep=lambda s: None, **{**options, **kwargs})


def test_a_retried_read_counts_each_request_with_its_status_and_time(scripted):
    record = orchestrator_record()
    scripted.answer(503, delay=0.05).answer(200, record, delay=0.05)
    failed, ok, (count, seconds) = (
        requests_sent("get", ORCH, "503"),
        requests_sent("get", ORCH, "200"),
        timed("get", ORCH),
    )
    client_for(scripted.url).get(ORCHESTRATOR_SLICE, record["id"])
    assert requests_sent("get", ORCH, "503") == failed + 1
    assert requests_sent("get", ORCH, "200") == ok + 1
    now_count, now_seconds = timed("get", ORCH)
    assert now_count == count + 2
    assert now_seconds - seconds >= 0.1


@pytest.mark.parametrize(
    ("operation", "call", "status"),
    [
        ("create", lambda c: c.create(EXECUTION_SLICE, {"status": "PENDING"}), 201),
        ("replace", lambda c: c.replace(EXECUTION_SLICE, "abc", {"status": "PENDING"}), 200),
        ("list", lambda c: c.list(EXECUTION_SLICE, page_size=1), 200),
        ("ping", lambda c: c.ping(), 200),
    ],
)
def test_each_operation_is_counted_under_its_own_name(scripted, operation, call, status):
    page = {"content": [], "number": 1, "size": 1, "last": True}
    scripted.answer(status, page if operation in ("list", "ping") else {"id": "abc"})
    resource = ORCH if operation == "ping" else EXECUTION_SLICE.path  # the probe reads one orchestrator slice
    before = requests_sent(operation, resource, str(status))
    call(client_for(scripted.url))
    assert requests_sent(operation, resource, str(status)) == before + 1


def test_a_read_that_times_out_is_counted_as_a_timeout(scripted):
    scripted.answer(200, {}, delay=1.5)
    before = requests_sent("get", ORCH, "timeout")
    with pytest.raises(errors.KodexaTimeout):
        client_for(scripted.url, max_retries=0).get(ORCHESTRATOR_SLICE, "slow")
    assert requests_sent("get", ORCH, "timeout") == before + 1


def test_kodexa_refusing_connections_is_counted_as_unreachable_once_per_attempt():
    before = requests_sent("replace", ORCH, "unreachable")
    with pytest.raises(errors.KodexaUnreachable):
        client_for(f"http://127.0.0.1:{free_port()}").replace(ORCHESTRATOR_SLICE, "x", {"status": "PENDING"})
    assert requests_sent("replace", ORCH, "unreachable") == before + 3  # the first try and two retries


def test_a_body_that_cannot_be_sent_is_not_counted(scripted):
    before = sum(requests_sent("create", EXECUTION_SLICE.path, s) for s in ("201", "error", "unreachable"))
    with pytest.raises(errors.KodexaValidationError):
        client_for(scripted.url).create(EXECUTION_SLICE, {"durationMs": math.nan})
    assert sum(requests_sent("create", EXECUTION_SLICE.path, s) for s in ("201", "error", "unreachable")) == before
    assert scripted.received == []
