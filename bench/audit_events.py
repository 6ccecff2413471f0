"""The vocabulary of a realistic audit log (thirty people, one much busier, their browsers, the status changes
they make, Kodexa's failures) and the parts of entries as the console's audit writer builds them. `bench.audit_seed`
tells a year of events with them."""

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

from slices_admin.audit import chain
from slices_admin.audit.services import field_diff
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.sandbox.catalog import FAILURES, ORGANIZATIONS

ORCHESTRATOR, EXECUTION = ORCHESTRATOR_SLICE.path, EXECUTION_SLICE.path
PEOPLE = (
    "m.okafor", "lena.fischer", "j.alvarez", "priya.raman", "t.nakamura", "sofia.rossi", "d.mensah", "k.lindqvist",
    "a.haddad", "e.novak", "r.oconnell", "y.chen", "b.dubois", "n.petrov", "h.suzuki", "c.moreau", "f.ibrahim",
    "g.kowalski", "s.patel", "o.andersen", "v.silva", "w.zhang", "i.murphy", "l.horvat", "p.gallagher", "z.yilmaz",
    "u.bakker", "q.santos", "x.weber", "ana.costa",
)  # fmt: skip
_PEOPLE_WEIGHTS = tuple(accumulate(1 / rank**0.8 for rank in range(1, len(PEOPLE) + 1)))  # one much busier
_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "python-httpx/0.28.1",
)
# Status changes people make: (before, after, error message after) → weight.
_TRANSITIONS = {
    ("FAILED", "PENDING", None): 45, ("FAILED", "PENDING_REPROCESSING", None): 10,
    ("RUNNING", "FAILED", "Lease expired: failed by an operator"): 10, ("PENDING", "CANCELLED", None): 10,
    ("RUNNING", "CANCELLED", None): 8, ("SUCCEEDED", "PENDING_REPROCESSING", None): 7,
    ("CANCELLED", "PENDING", None): 5, ("FAILED", "SKIPPED", None): 5,
}  # fmt: skip
_TRANSITION_LIST, _TRANSITION_WEIGHTS = tuple(_TRANSITIONS), tuple(accumulate(_TRANSITIONS.values()))
CHANGE_FAILURES = (  # (status, error, response body) of attempts Kodexa did not carry out (outcome failed)
    (None, "Kodexa did not answer in time. Kodexa may still have applied the change: refresh the record before "
     "trying again.", None),
    (502, "Kodexa answered 502: Bad Gateway. Kodexa failed on its side. Try again in a minute.",
     {"message": "Bad Gateway"}),
    (503, "Kodexa answered 503: Service Unavailable. Kodexa failed on its side. Try again in a minute.",
     {"message": "Service Unavailable"}),
    (500, "Kodexa answered 500: Internal Server Error. Kodexa failed on its side. Try again in a minute.",
     {"error": "Internal Server Error"}),
)  # fmt: skip
_STALE = "Someone else changed this record. Review the current version and apply your change to it."
_INVALID = "Kodexa rejected the values: correct the fields it names and submit again."
_GONE = "The record does not exist on Kodexa (any more); refresh the list."


def draw(rng: random.Random, names, cumulative: tuple):
    return names[bisect(cumulative, rng.random() * cumulative[-1])]


def uuid(rng: random.Random) -> str:
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"


@dataclass
class _Person:
    name: str
    ip_address: str
    user_agent: str


class EntryParts:
    """The parts of audit entries as the console writes them: a person, a slice, a record, an attempt's outcome."""

    def __init__(self, rng: random.Random, first_bulk_job: int):
        self.rng = rng
        self.people = [
            _Person(
                name, f"10.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(_BROWSERS)
            )
            for name in PEOPLE
        ]
        # Slices touched: a pool per resource, some far more often than others.
        self.slices = {
            ORCHESTRATOR: [uuid(rng) for _ in range(60_000)],
            EXECUTION: [uuid(rng) for _ in range(20_000)],
        }
        self.next_bulk_job = first_bulk_job
        self.sync_run = 0

    # --- parts ---------------------------------------------------------------------------------------------------
    def _person(self) -> _Person:
        return draw(self.rng, self.people, _PEOPLE_WEIGHTS)

    def _slice(self, resource: str) -> str:
        pool = self.slices[resource]
        return pool[int(len(pool) * self.rng.random() ** 1.6)]

    def _record(self, resource: str, slice_id: str, status: str, sequence: int, error: str | None) -> dict:
        rng = self.rng
        return {
            "id": slice_id,
            "status": status,
            "changeSequence": sequence,
            "errorMessage": error,
            "attemptNumber": 1 + (rng.random() < 0.3) + (rng.random() < 0.1),
            "organizationId": ORGANIZATIONS[int(slice_id[:8], 16) % len(ORGANIZATIONS)],
            **({"sliceOrder": rng.randint(0, 40)} if resource == ORCHESTRATOR else {"stepIndex": rng.randint(0, 6)}),
        }

    @staticmethod
    def _entry(who: str, action: str, outcome: str, resource: str, remote_id: str = "", **values) -> dict:
        """All hashed fields but `occurred_at` and `prev_hash`, as `record_attempt` fills them."""
        before, after = values.get("before"), values.get("after")
        return {
            "actor_id": None,
            "actor_username": who,
            "action": action,
            "outcome": outcome,
            "resource": resource,
            "remote_id": remote_id,
            "request_body": values.get("request_body"),
            "response_status": values.get("response_status"),
            "response_body": values.get("response_body"),
            "error": values.get("error", ""),
            "before": before,
            "after": after,
            "diff": field_diff(before, after) if after is not None else [],
            "duration_ms": values.get("duration_ms"),
            "request_id": values.get("request_id", ""),
            "bulk_job_id": values.get("bulk_job_id"),
            "reason": values.get("reason", ""),
            "ip_address": values.get("ip_address"),
            "user_agent": values.get("user_agent", ""),
            "path": values.get("path", ""),
            "credential": values.get("credential"),
            "chain_version": chain.CURRENT_VERSION,
        }

    def _from(self, person: _Person, method: str, path: str) -> dict:
        """The request context of a person's action in the browser."""
        return {
            "request_id": f"{self.rng.getrandbits(128):032x}",
            "ip_address": person.ip_address,
            "user_agent": person.user_agent,
            "path": f"{method} {path}",
        }

    def _outcome(self, *, conflicts: bool = True) -> str:
        draw = self.rng.random()
        if draw < 0.095:
            return "failed"
        if conflicts and draw < 0.145:
            return "conflict"
        if draw < 0.17:
            return "rejected"
        return "succeeded"

    def _attempt(self, outcome: str, before: dict | None, after: dict, status: int) -> dict:
        """Kodexa's side of a change: its answer, what the entry records of it, how long it took."""
        rng = self.rng
        duration = int(rng.lognormvariate(4.6, 0.6))  # about 100 ms
        if outcome == "succeeded":
            return {
                "response_status": status,
                "response_body": after,
                "before": before,
                "after": after,
                "duration_ms": duration,
            }
        if outcome == "failed":
            code, error, body = rng.choice(CHANGE_FAILURES)
            duration = 30_000 if code is None else duration
        elif outcome == "conflict":
            sequence = after["changeSequence"]
            code, body = 409, {"message": f"changeSequence {sequence - 1} is stale: the record is at {sequence}"}
            error = f"Kodexa answered 409: {body['message']} {_STALE}"
        elif rng.random() < 0.7:
            code, body = 422, {"errors": {"status": "is not a status this slice can take now"}}
            error = f"Kodexa answered 422. {_INVALID}"
        else:
            code, body, error = 404, {"message": "Not Found"}, f"Kodexa does not know this record. {_GONE}"
        return {
            "response_status": code,
            "response_body": body,
            "error": error,
            "before": before,
            "duration_ms": duration,
        }

    def _status_change(self, resource: str, slice_id: str) -> tuple[dict, dict, dict]:
        """A slice before and after a status change people make, and the PATCH body that asks for it."""
        old, new, message = draw(self.rng, _TRANSITION_LIST, _TRANSITION_WEIGHTS)
        sequence = self.rng.randint(2, 9)
        failure = self.rng.choice(FAILURES).message if old == "FAILED" else None
        before = self._record(resource, slice_id, old, sequence, failure)
        after = {**before, "status": new, "changeSequence": sequence + 1, "errorMessage": message}
        return before, after, {"status": new, "errorMessage": message, "changeSequence": sequence}
