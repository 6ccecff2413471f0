"""The HTTP plumbing: keep-alive connections, and a clean stop on SIGTERM."""

import http.client
import signal
from urllib.parse import urlsplit

from tests.sandbox.conftest import API_KEY, EXECUTION


def test_connections_are_kept_alive_across_requests(sandbox):
    address = urlsplit(sandbox.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    sockets = []
    for _ in range(3):
        connection.request("GET", EXECUTION, headers={"x-api-key": API_KEY})
        response = connection.getresponse()
        assert int(response.headers["Content-Length"]) == len(response.read())
        sockets.append(connection.sock)
    connection.close()
    assert sockets[0] is not None
    assert sockets == [sockets[0]] * 3


def test_sigterm_stops_the_server_with_exit_status_0(start_sandbox):
    sandbox = start_sandbox()
    sandbox.get(EXECUTION)
    sandbox.process.send_signal(signal.SIGTERM)
    assert sandbox.process.wait(timeout=10) == 0
