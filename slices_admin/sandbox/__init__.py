"""The Kodexa sandbox: a Kodexa-compatible stand-in API server, run as its own process (like stripe-mock).

It serves the two slice resources of `slices_admin.kodexa.contract` over real HTTP on 127.0.0.1, keeps them in
an SQLite file, seeds realistic demo data, and injects faults (latency, 503, 504 after a hang, 429 with
Retry-After) on demand through its `/_sandbox/` control endpoints.

Imports point one way: `messages`, `store` and `catalog` at the bottom; `records`, `listing`, `faults` and `seed` on
them; then `api`, `server` (HTTP), `cli` (the command line) and `launcher` (starting it as a process) on top.

Boundary: these modules use only the standard library and the contract; they never import Django, and the console
reaches the sandbox only over HTTP, started through `launcher`. The Django app exists just to offer
`manage.py kodexa_sandbox`; it has no models.
"""
