"""The sandbox over HTTP/1.1: `SandboxServer` (a thread per keep-alive connection) and `SandboxHandler` carry
`Request`s to a `SandboxApi` and its `Response`s back; `make_server` binds one, `serve_forever` runs it until a signal.
"""

import signal
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from slices_admin.sandbox.api import SandboxApi
from slices_admin.sandbox.faults import FaultInjector, FaultSettings
from slices_admin.sandbox.messages import ApiError, Request, Response, json_response
from slices_admin.sandbox.store import SliceStore

MAX_BODY_BYTES = 10 * 2**20


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server for one `SandboxApi`."""

    daemon_threads = True
    request_queue_size = 128
    server_address: tuple[str, int]  # once bound, what the (IPv4) socket says: the host and the port it got

    def __init__(self, address: tuple[str, int], api: SandboxApi, *, verbose: bool = False):
        self.api = api
        self.verbose = verbose
        super().__init__(address, SandboxHandler)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is not worth a traceback
            super().handle_error(request, client_address)


class SandboxHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a `Request` for the server's `SandboxApi` and writes back its `Response`."""

    protocol_version = "HTTP/1.1"
    server_version = "KodexaSandbox/1.0"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't let the body wait for an ACK
    server: SandboxServer  # set by the base class; typed for the `api` and `verbose` it carries

    def _handle(self) -> None:
        self._started = time.perf_counter()
        try:
            response = self.server.api.handle(self._request())
        except ApiError as error:
            response = error.response()
        except Exception:
            traceback.print_exc()
            response = json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"})
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _request(self) -> Request:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise ApiError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"Body larger than {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        url = urlsplit(self.path)
        return Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.verbose:
            elapsed_ms = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
            sys.stderr.write(f"{self.command} {self.path} {code} {elapsed_ms:.1f}ms\n")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{format % args}\n")


def make_server(
    host: str,
    port: int,
    *,
    store: SliceStore,
    api_key: str,
    faults: FaultSettings | None = None,
    verbose: bool = False,
) -> SandboxServer:
    """A bound (not yet serving) sandbox server; port 0 picks a free port (see `server.server_address`)."""
    api = SandboxApi(store, api_key, FaultInjector(faults or FaultSettings()))
    return SandboxServer((host, port), api, verbose=verbose)


def serve_forever(server: SandboxServer) -> None:
    """Serve until SIGTERM or SIGINT (when called from the main thread) or `server.shutdown()`, then close."""
    if threading.current_thread() is threading.main_thread():

        def stop(signum: int, frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
