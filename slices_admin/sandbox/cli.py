"""The sandbox's command line: its options and `run`, the one entry point shared by `python -m slices_admin.sandbox`
and `manage.py kodexa_sandbox`. Once serving, it says so on stdout in one line, the line `launcher` waits for."""

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from slices_admin.sandbox.faults import FaultSettings, FaultSettingsError
from slices_admin.sandbox.seed import seed_store
from slices_admin.sandbox.server import make_server, serve_forever
from slices_admin.sandbox.store import SliceStore

DEMO_SEED = 1
LISTENING_ON = "Kodexa sandbox listening on "  # followed by the URL, http://HOST:PORT


def add_arguments(
    parser: argparse.ArgumentParser, *, api_key: str | None = None, data: str = "var/sandbox.sqlite3"
) -> None:
    """The sandbox's command line options; `--api-key` is required when no default is given."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    parser.add_argument("--data", default=str(data), help=f"SQLite file, created if missing (default {data})")
    parser.add_argument(
        "--api-key", default=api_key, required=api_key is None, help="the x-api-key value clients must send"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="if the store is empty, seed N orchestrator slices and N//10 execution slices",
    )
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before each /api/ answer")
    parser.add_argument("--error-rate", type=float, default=0, help="share of /api/ requests answered 503")
    parser.add_argument("--timeout-rate", type=float, default=0, help="share answered 504 after --timeout-seconds")
    parser.add_argument("--timeout-seconds", type=float, default=30, help="how long a timeout fault hangs")
    parser.add_argument("--rate-limit-rate", type=float, default=0, help="share answered 429 with Retry-After")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds sent with 429")
    parser.add_argument("--verbose", action="store_true", help="log one line per request on stderr")


def fault_settings(options: Mapping[str, Any]) -> FaultSettings:
    """The fault settings the command line options ask for (validated like `PUT /_sandbox/faults`)."""
    return FaultSettings().updated(
        {
            "latencyMs": options["latency_ms"],
            "errorRate": options["error_rate"],
            "timeoutRate": options["timeout_rate"],
            "timeoutSeconds": options["timeout_seconds"],
            "rateLimitRate": options["rate_limit_rate"],
            "retryAfter": options["retry_after"],
        }
    )


def run(options: Mapping[str, Any]) -> None:
    """Open the store, seed it if asked and empty, announce the address on stdout, and serve until stopped."""
    try:
        faults = fault_settings(options)
    except FaultSettingsError as error:
        raise SystemExit(f"Invalid fault options: {error.errors}") from error
    store = SliceStore(options["data"])
    try:
        if options["seed"] > 0 and store.is_empty():
            added = seed_store(
                store, orchestrator_count=options["seed"], execution_count=options["seed"] // 10, seed=DEMO_SEED
            )
            print(
                f"Seeded {added['orchestratorSlices']} orchestrator and {added['executionSlices']} execution slices",
                file=sys.stderr,
            )
        server = make_server(
            options["host"],
            options["port"],
            store=store,
            api_key=options["api_key"],
            faults=faults,
            verbose=options["verbose"],
        )
        host, port = server.server_address[:2]
        print(f"{LISTENING_ON}http://{host}:{port}", flush=True)
        serve_forever(server)
    finally:
        store.close()
