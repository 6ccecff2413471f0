"""The Kodexa client against a real HTTP server on 127.0.0.1 that answers with the fault under test."""

import pytest

from bench.support import free_port
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import KodexaClient
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE

SLICE_ID = "0b7c6a0e-6a51-4c61-9b8e-1c0f3c7f2d11"
KEY = "kx-secret-client-key-123"


def client_for(server, **kwargs) -> KodexaClient:
    options = {"read_timeout": 0.5, "connect_timeout": 0.5, "max_retries": 2, "max_retry_wait": 2}
    return KodexaClient(server.url, KEY, sleep=lambda s: None, **{**options, **kwargs})


def test_every_request_carries_the_api_key_and_json(scripted):
    scripted.answer(201, {"id": "abc"})
    client_for(scripted).create(EXECUTION_SLICE, {"status": "PENDING"})
    sent = scripted.received[0]
    assert sent["method"] == "POST" and sent["path"] == "/api/execution-slices"
    assert sent["headers"]["x-api-key"] == KEY
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["body"] == b'{"status": "PENDING"}'


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, errors.KodexaValidationError),
        (401, errors.KodexaAuthError),
        (403, errors.KodexaAuthError),
        (404, errors.KodexaNotFound),
        (405, errors.KodexaNotSupported),
        (409, errors.KodexaConflict),
        (422, errors.KodexaValidationError),
    ],
)
def test_client_errors_become_typed_errors_without_retry(scripted, status, error_class):
    scripted.answer(status, {"message": "nope"})
    with pytest.raises(error_class) as caught:
        client_for(scripted).replace(ORCHESTRATOR_SLICE, SLICE_ID, {"id": SLICE_ID})
    assert caught.value.status == status
    assert "nope" in caught.value.message
    assert len(scripted.received) == 1


def test_validation_error_exposes_kodexas_field_messages(scripted):
    scripted.answer(400, {"errors": {"sliceOrder": "must be >= 0"}})
    with pytest.raises(errors.KodexaValidationError) as caught:
        client_for(scripted).create(EXECUTION_SLICE, {"sliceOrder": -1})
    assert caught.value.field_errors == {"sliceOrder": "must be >= 0"}


def test_server_errors_on_a_read_are_retried_then_succeed(scripted):
    scripted.answer(503).answer(502).answer(200, {"id": SLICE_ID})
    answer = client_for(scripted).get(ORCHESTRATOR_SLICE, SLICE_ID)
    assert answer.body == {"id": SLICE_ID}
    assert len(scripted.received) == 3


def test_persistent_server_errors_end_as_kodexa_server_error(scripted):
    for _ in range(3):
        scripted.answer(500, {"message": "boom"})
    with pytest.raises(errors.KodexaServerError) as caught:
        client_for(scripted).replace(ORCHESTRATOR_SLICE, SLICE_ID, {})
    assert caught.value.status == 500
    assert len(scripted.received) == 1  # 500 is not a transient status: no retry


def test_a_post_is_never_retried_after_a_server_error(scripted):
    scripted.answer(503).answer(201, {"id": "x"})
    with pytest.raises(errors.KodexaServerError):
        client_for(scripted).create(EXECUTION_SLICE, {})
    assert len(scripted.received) == 1


def test_rate_limit_waits_for_retry_after_then_retries(scripted):
    waits = []
    scripted.answer(429, {"message": "slow down"}, headers={"Retry-After": "1"}).answer(200, {"id": SLICE_ID})
    client = client_for(scripted)
    client._sleep = waits.append
    assert client.get(ORCHESTRATOR_SLICE, SLICE_ID).body == {"id": SLICE_ID}
    assert waits == [1.0]


def test_a_post_is_never_retried_after_a_rate_limit(scripted):
    scripted.answer(429, {"message": "slow down"}, headers={"Retry-After": "0"}).answer(201, {"id": "x"})
    with pytest.raises(errors.KodexaRateLimited):
        client_for(scripted).create(EXECUTION_SLICE, {})
    assert len(scripted.received) == 1


def test_retries_of_a_put_run_out_and_end_as_unavailable(scripted):
    for _ in range(3):
        scripted.answer(503, {"message": "busy"})
    with pytest.raises(errors.KodexaServerError) as caught:
        client_for(scripted).replace(ORCHESTRATOR_SLICE, SLICE_ID, {})
    assert caught.value.status == 503
    assert len(scripted.received) == 3  # the first try and max_retries=2 more


def test_retry_after_as_an_http_date_is_honoured(scripted):
    from email.utils import formatdate

    waits = []
    when = formatdate(__import__("time").time() + 2, usegmt=True)
    scripted.answer(503, headers={"Retry-After": when}).answer(200, {"id": SLICE_ID})
    client = client_for(scripted)
    client._sleep = waits.append
    client.get(ORCHESTRATOR_SLICE, SLICE_ID)
    assert len(waits) == 1 and 0 < waits[0] <= 2


def test_a_key_kodexa_echoes_back_is_scrubbed_from_the_error(scripted):
    scripted.answer(401, {"message": f"Invalid API key {KEY}", "errors": {"x-api-key": [KEY]}})
    with pytest.raises(errors.KodexaAuthError) as caught:
        client_for(scripted).get(ORCHESTRATOR_SLICE, SLICE_ID)
    assert KEY not in caught.value.message and KEY not in str(caught.value.body)
    assert "[redacted]" in caught.value.message


def test_rate_limit_longer_than_the_max_wait_is_raised_with_retry_after(scripted):
    scripted.answer(429, {"message": "slow down"}, headers={"Retry-After": "30"})
    with pytest.raises(errors.KodexaRateLimited) as caught:
        client_for(scripted).get(ORCHESTRATOR_SLICE, SLICE_ID)
    assert caught.value.retry_after == 30
    assert "30" in caught.value.advice
    assert len(scripted.received) == 1


def test_read_timeout_on_a_get_is_retried(scripted):
    scripted.answer(200, {"id": "late"}, delay=2).answer(200, {"id": SLICE_ID})
    assert client_for(scripted).get(ORCHESTRATOR_SLICE, SLICE_ID).body == {"id": SLICE_ID}
    assert len(scripted.received) == 2


def test_read_timeout_on_a_post_is_not_retried_and_is_a_timeout(scripted):
    scripted.answer(201, {"id": "late"}, delay=2).answer(201, {"id": "again"})
    with pytest.raises(errors.KodexaTimeout) as caught:
        client_for(scripted).create(EXECUTION_SLICE, {})
    assert caught.value.status is None
    assert "refresh" in caught.value.advice
    assert len(scripted.received) == 1


def test_unreachable_host_is_reported_as_unreachable():
    port = free_port()  # nothing listens there

    class Nowhere:
        url = f"http://127.0.0.1:{port}"

    with pytest.raises(errors.KodexaUnreachable) as caught:
        client_for(Nowhere).get(ORCHESTRATOR_SLICE, SLICE_ID)
    assert f"127.0.0.1:{port}" in caught.value.message


def test_a_success_that_is_not_json_is_a_protocol_error(scripted):
    scripted.answer(200, b"<html>proxy login</html>")
    with pytest.raises(errors.KodexaProtocolError):
        client_for(scripted).get(ORCHESTRATOR_SLICE, SLICE_ID)


def test_list_reads_the_page_object(scripted):
    page = {"content": [{"id": "a"}], "totalElements": 41, "totalPages": 41, "number": 2, "size": 1,
            "numberOfElements": 1, "first": False, "last": False, "empty": False}  # fmt: skip
    scripted.answer(200, page)
    result = client_for(scripted).list(ORCHESTRATOR_SLICE, page=2, page_size=1, filter="status eq 'FAILED'")
    assert result.content == [{"id": "a"}] and result.total_elements == 41 and not result.last
    assert "page=2" in scripted.received[0]["path"] and "pageSize=1" in scripted.received[0]["path"]
    assert "filter=status+eq+%27FAILED%27" in scripted.received[0]["path"]


def test_record_ids_are_escaped_into_the_path(scripted):
    scripted.answer(200, {"id": "a/b"})
    client_for(scripted).get(EXECUTION_SLICE, "a/b?c")
    assert scripted.received[0]["path"] == "/api/execution-slices/a%2Fb%3Fc"


def test_the_key_appears_in_no_error_message_or_repr(scripted):
    scripted.answer(401, {"message": "bad key"})
    client = client_for(scripted)
    with pytest.raises(errors.KodexaAuthError) as caught:
        client.get(ORCHESTRATOR_SLICE, SLICE_ID)
    assert KEY not in str(caught.value) + caught.value.advice + repr(client) + client.target
