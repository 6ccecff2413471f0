"""A webhook receiver for tests, run as its own process (standard library only): it records every request it gets
(headers and body) as a JSON line in a file, before answering, and answers from a script of statuses and delays, then
200 once the script runs out. It prints the URL it listens on, then serves until killed.

    python tests/webhook_receiver.py LOG_FILE '[{"status": 500}, {"status": 200, "delay": 3}]'
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/hooks/T0001/B0002/receiver-path-secret"  # a path like a Slack webhook's, which is itself a secret


def main(log_file: str, script: list[dict]) -> None:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                answer = script.pop(0) if script else {"status": 200}
                with open(log_file, "a", encoding="utf-8") as log:
                    record = {"path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8")}
                    log.write(json.dumps({**record, "at": time.time()}) + "\n")
            time.sleep(answer.get("delay", 0))
            data = answer.get("body", "ok").encode()
            try:
                self.send_response(answer["status"])
                for name, value in answer.get("headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the console gave up waiting (a timeout under test)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}{PATH}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else [])
