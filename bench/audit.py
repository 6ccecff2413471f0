"""The audit log at a million entries: keyset pages of three filters (and none), and export memory.

Seeding: a year of realistic entries, written in a few minutes. Thirty people (one much busier than the rest) and
"system" patch, update and create slices, refresh them, sync, sign in and out, fail to sign in and are refused;
about 8% of attempts fail, 3% conflict and 2% are rejected; about 5% of entries belong to bulk jobs (their start,
one update per slice, now and then a cancel). Changes carry small before/after records of a status change and the
diff `record_attempt` would compute. Entries form a valid hash chain continuing from the log's head (so topping
the log up keeps `manage.py verify_audit` passing), each hashed by `audit.chain` itself; `occurred_at` grows with
the id, as the chain's writers guarantee. New entries fill the year before the load, or the time since the head
when the log already reaches into that year. Secondary indexes are dropped for the load and rebuilt after it, and
the planner statistics refreshed, as `bench/seed.py` does for slices.

Measuring: the `entries` fragment of `/audit/` (`HX-Request: true`, as htmx asks for it) through Django's test
client, as a viewer (whose queries leave security events out) and as an admin, for the first, a middle and the
last page of each filter: a middle page is the one that starts just older than the entry halfway down the
filtered entries, newest first. Every page is asked once per round, in alternating order, so machine noise hits
all alike. Then, as an admin, the CSV and JSON Lines exports, each of about ten thousand entries and of the whole
log, with `bench/export.py`'s tracemalloc peak.
"""

import json
import random
import time
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, batched
from urllib.parse import unquote, urlencode

from django.db import connection, transaction
from django.db.models import Count, Max
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from slices_admin.audit import chain
from slices_admin.audit.filters import filtered_entries
from slices_admin.audit.models import ACCOUNT, AuditEntry
from slices_admin.audit.selectors import DEFAULT_PAGE_SIZE, NEWEST_FIRST
from slices_admin.audit.services import field_diff
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.sandbox.catalog import FAILURES, ORGANIZATIONS

from . import export
from .browsing import _get_ms, _summary, _user, logged_in, slow_queries
from .seed import bulk_load, insert_statement

TARGET_P95_MS = 50.0
PAGE_SIZE = DEFAULT_PAGE_SIZE  # the page as it opens: no pageSize asked
SMALL_EXPORT = 10_000  # entries in the filtered export
# Who reads: a viewer, the least role that may (security events are left out of every query), and an admin.
ROLES = ("viewer", "admin")
HISTORY_US = 365 * 86_400 * 1_000_000
_BATCH = 20_000  # rows per executemany
_COMMIT_EVERY = 100_000  # rows per transaction
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_FIELDS = frozenset({"request_body", "response_body", "before", "after", "diff"})
# Every column the loader fills, in the order of the row tuples: the hashed fields and the hash (no id, no actor).
COLUMNS = (*chain.HASHED_FIELDS, "entry_hash")

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
# Single events (a bulk job is drawn apart): action → weight.
_ACTIONS = {
    "patch": 38, "update": 22, "create": 9, "refresh": 14, "sync": 3, "login": 7, "logout": 3, "login_failed": 1.5,
    "permission_denied": 1.2, "role_change": 0.05,
}  # fmt: skip
_ACTION_NAMES, _ACTION_WEIGHTS = tuple(_ACTIONS), tuple(accumulate(_ACTIONS.values()))
# Status changes people make: (before, after, error message after) → weight.
_TRANSITIONS = {
    ("FAILED", "PENDING", None): 45, ("FAILED", "PENDING_REPROCESSING", None): 10,
    ("RUNNING", "FAILED", "Lease expired: failed by an operator"): 10, ("PENDING", "CANCELLED", None): 10,
    ("RUNNING", "CANCELLED", None): 8, ("SUCCEEDED", "PENDING_REPROCESSING", None): 7,
    ("CANCELLED", "PENDING", None): 5, ("FAILED", "SKIPPED", None): 5,
}  # fmt: skip
_TRANSITION_LIST, _TRANSITION_WEIGHTS = tuple(_TRANSITIONS), tuple(accumulate(_TRANSITIONS.values()))
_BULK_SHARE = 0.05  # of entries
_BULK_MEAN_ITEMS = 10 + 390 * 1.2 / (1.2 + 3.0)  # betavariate(1.2, 3.0) scaled, as `_bulk_job` draws it
_BULK_JOB_CHANCE = _BULK_SHARE / ((_BULK_MEAN_ITEMS + 1) * (1 - _BULK_SHARE))  # per event
_BULK_REASONS = (
    "Reprocess slices that failed during the OCR outage",
    "Cancel a pipeline started twice by mistake",
    "Retry throttled extractions after the quota increase",
    "Release slices stuck on expired leases",
    "Skip documents the customer withdrew",
)
_CHANGE_FAILURES = (  # (status, error, response body) of attempts Kodexa did not carry out (outcome failed)
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


def _draw(rng: random.Random, names, cumulative: tuple):
    return names[bisect(cumulative, rng.random() * cumulative[-1])]


def _uuid(rng: random.Random) -> str:
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"


def _column(name: str, value):
    """A hashed value as the row stores it: JSON as text, a date-time as Django's SQLite text (naive UTC)."""
    if name in _JSON_FIELDS:
        return None if value is None else json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S.%f}"
    return value


@dataclass
class _Person:
    name: str
    ip_address: str
    user_agent: str


class _Events:
    """Audit entries as the console writes them, one event (or one bulk job) at a time, without time or chain."""

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
            ORCHESTRATOR: [_uuid(rng) for _ in range(60_000)],
            EXECUTION: [_uuid(rng) for _ in range(20_000)],
        }
        self.next_bulk_job = first_bulk_job
        self.sync_run = 0

    # --- parts ---------------------------------------------------------------------------------------------------
    def _person(self) -> _Person:
        return _draw(self.rng, self.people, _PEOPLE_WEIGHTS)

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
            code, error, body = rng.choice(_CHANGE_FAILURES)
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
        old, new, message = _draw(self.rng, _TRANSITION_LIST, _TRANSITION_WEIGHTS)
        sequence = self.rng.randint(2, 9)
        failure = self.rng.choice(FAILURES).message if old == "FAILED" else None
        before = self._record(resource, slice_id, old, sequence, failure)
        after = {**before, "status": new, "changeSequence": sequence + 1, "errorMessage": message}
        return before, after, {"status": new, "errorMessage": message, "changeSequence": sequence}

    # --- events --------------------------------------------------------------------------------------------------
    def next(self) -> list[dict]:
        """The entries of the next event: one, or a whole bulk job."""
        if self.rng.random() < _BULK_JOB_CHANCE:
            return self._bulk_job()
        return [getattr(self, f"_{_draw(self.rng, _ACTION_NAMES, _ACTION_WEIGHTS)}")()]

    def _change(self, action: str) -> dict:
        person = self._person()
        resource = ORCHESTRATOR if self.rng.random() < 0.75 else EXECUTION
        slice_id = self._slice(resource)
        before, after, body = self._status_change(resource, slice_id)
        if action == "update":
            body = {k: v for k, v in after.items() if k != "id"} | {"changeSequence": before["changeSequence"]}
        if resource == ORCHESTRATOR and action == "patch" and self.rng.random() < 0.4:
            where = self._from(person, "PATCH", f"/api/v1/{resource}/{slice_id}")
        else:
            kind = "orchestrator" if resource == ORCHESTRATOR else "execution"
            where = self._from(person, "POST", f"/slices/{kind}/{slice_id}/edit/")
        outcome = self._outcome()
        return self._entry(
            person.name,
            action,
            outcome,
            resource,
            slice_id,
            request_body=body,
            **self._attempt(outcome, before, after, 200),
            **where,
        )

    def _patch(self) -> dict:
        return self._change("patch")

    def _update(self) -> dict:
        return self._change("update")

    def _create(self) -> dict:
        person, slice_id = self._person(), _uuid(self.rng)
        self.slices[EXECUTION][self.rng.randrange(len(self.slices[EXECUTION]))] = slice_id  # later touched too
        record = self._record(EXECUTION, slice_id, "REQUESTED", 1, None)
        outcome = self._outcome(conflicts=False)
        return self._entry(
            person.name,
            "create",
            outcome,
            EXECUTION,
            slice_id if outcome == "succeeded" else "",
            request_body={k: v for k, v in record.items() if k != "id"},
            **self._attempt(outcome, None, record, 201),
            **self._from(person, "POST", "/slices/execution/new/"),
        )

    def _refresh(self) -> dict:
        person = self._person()
        resource = ORCHESTRATOR if self.rng.random() < 0.8 else EXECUTION
        slice_id = self._slice(resource)
        before, after, _body = self._status_change(resource, slice_id)
        if self.rng.random() < 0.7:  # most refreshes find nothing new
            after = before
        kind = "orchestrator" if resource == ORCHESTRATOR else "execution"
        where = self._from(person, "POST", f"/slices/{kind}/{slice_id}/refresh/")
        if self.rng.random() < 0.08:
            return self._entry(
                person.name,
                "refresh",
                "failed",
                resource,
                slice_id,
                **self._attempt("failed", before, after, 200),
                **where,
            )
        return self._entry(
            person.name,
            "refresh",
            "succeeded",
            resource,
            slice_id,
            response_status=200,
            response_body=after,
            before=before,
            after=after,
            duration_ms=int(self.rng.lognormvariate(4.2, 0.5)),
            **where,
        )

    def _sync(self) -> dict:
        rng = self.rng
        self.sync_run += 1
        full = rng.random() < 0.05
        records = rng.randint(200_000, 1_000_000) if full else int(rng.lognormvariate(6, 1.2))
        seconds = records / rng.uniform(2500, 6000) + rng.uniform(0.3, 2)
        failed = rng.random() < 0.05
        return self._entry(
            "system",
            "sync",
            "failed" if failed else "succeeded",
            ORCHESTRATOR if rng.random() < 0.7 else EXECUTION,
            request_body={"mode": "full" if full else "incremental", "pageSize": 1000, "syncRun": self.sync_run},
            response_body={"pages": records // 1000 + 1, "records": records, "expected": records, "gone": 0},
            error=rng.choice(_CHANGE_FAILURES)[1] if failed else "",
            duration_ms=int(seconds * 1000),
        )

    def _login(self) -> dict:
        person = self._person()
        where = self._from(person, "POST", "/login/")
        return self._entry(person.name, "login", "succeeded", ACCOUNT, person.name, **where)

    def _logout(self) -> dict:
        person = self._person()
        where = self._from(person, "POST", "/logout/")
        return self._entry(person.name, "logout", "succeeded", ACCOUNT, person.name, **where)

    def _login_failed(self) -> dict:
        person = self._person()
        claimed = person.name if self.rng.random() < 0.8 else person.name.replace(".", "")
        where = self._from(person, "POST", "/login/")
        error = "Wrong username or password, or the account is inactive."
        return self._entry("anonymous", "login_failed", "denied", ACCOUNT, claimed, error=error, **where)

    def _permission_denied(self) -> dict:
        person = self._person()
        slice_id = self._slice(ORCHESTRATOR)
        where = self._from(person, "POST", f"/slices/orchestrator/{slice_id}/edit/")
        reason = "the role lacks the permission"
        error = f"Refused {where['path']} for {person.name}: {reason}."
        return self._entry(
            person.name, "permission_denied", "denied", ACCOUNT, person.name, error=error, reason=reason, **where
        )

    def _role_change(self) -> dict:
        admin, person = self.people[0], self._person()
        roles = self.rng.sample(["viewer", "operator", "admin"], 2)
        where = self._from(admin, "POST", "/admin/auth/user/")
        return self._entry(
            admin.name,
            "role_change",
            "succeeded",
            ACCOUNT,
            person.name,
            before={"role": roles[0]},
            after={"role": roles[1]},
            **where,
        )

    def _bulk_job(self) -> list[dict]:
        """A bulk status change: its start, one update per slice (most succeed), and one time in twenty a cancel."""
        rng, person, job = self.rng, self._person(), self.next_bulk_job
        self.next_bulk_job += 1
        items = 10 + int(rng.betavariate(1.2, 3.0) * 390)
        reason = rng.choice(_BULK_REASONS)
        job_context = {"bulk_job_id": job, "reason": reason}
        target = rng.choice(("PENDING", "CANCELLED", "PENDING_REPROCESSING"))
        start = self._entry(
            person.name,
            "bulk_start",
            "succeeded",
            ORCHESTRATOR,
            **job_context,
            **self._from(person, "POST", "/bulk/new/"),
            request_body={
                "selection": {"filter": {"status": ["FAILED"]}},
                "targetStatus": target,
                "errorMessage": None,
                "items": items,
                "toChange": items,
            },
        )
        entries = [start]
        cancelled_after = rng.randint(1, items) if rng.random() < 0.05 else None
        for number in range(items):
            if number == cancelled_after:
                where = self._from(person, "POST", f"/bulk/{job}/cancel/")
                entries.append(
                    self._entry(person.name, "bulk_cancel", "succeeded", ORCHESTRATOR, **job_context, **where)
                )
                break
            slice_id = self._slice(ORCHESTRATOR)
            before, after, body = self._status_change(ORCHESTRATOR, slice_id)
            after, body = {**after, "status": target}, {**body, "status": target}
            draw = rng.random()
            outcome = "conflict" if draw < 0.04 else "failed" if draw < 0.06 else "rejected" if draw < 0.07 else ""
            outcome = outcome or "succeeded"
            entries.append(
                self._entry(
                    person.name,
                    "update",
                    outcome,
                    ORCHESTRATOR,
                    slice_id,
                    request_body=body,
                    **job_context,
                    **self._attempt(outcome, before, after, 200),
                )
            )
        return entries


def entry_rows(count: int, seed: str, start_us: int, end_us: int, head_hash: str, first_bulk_job: int) -> Iterator:
    """`count` rows in `COLUMNS` order between two epoch microseconds, chained after `head_hash`.

    Entry number n (of count) happens in the n-th equal slot of the span, a bulk job's entries a fraction of a
    second apart from its slot on; times grow with the entry, never past `end_us`."""
    rng = random.Random(seed)
    events = _Events(rng, first_bulk_job)
    slot = (end_us - start_us) / count
    previous = head_hash
    produced = 0
    while produced < count:
        group = events.next()[: count - produced]
        begins = start_us + int(slot * (produced + rng.random()))
        step = min(rng.randint(80_000, 700_000), int(slot / 2))  # bulk items follow each other fast
        for offset, values in enumerate(group):
            values["occurred_at"] = _EPOCH + timedelta(microseconds=begins + offset * step)
            values["prev_hash"] = previous
            previous = chain.entry_hash(values)
            yield (*(_column(name, values[name]) for name in chain.HASHED_FIELDS), previous)
        produced += len(group)


def _head() -> dict | None:
    return AuditEntry.objects.order_by("-id").values("id", "occurred_at", "entry_hash").first()


def ensure_entries(target: int, log=print) -> float | None:
    """Top the audit log up to `target` entries; answer the seconds it took, or None when none were missing."""
    present = AuditEntry.objects.count()
    missing = target - present
    if missing <= 0:
        log(f"Audit log holds {present:,} entries: reusing them.")
        return None
    log(f"Audit log holds {present:,} entries: adding {missing:,} ...")
    began = time.perf_counter()
    head = _head()
    end_us = int(time.time() * 1_000_000)
    start_us = end_us - HISTORY_US
    if head is not None:
        after_head = int((head["occurred_at"] - _EPOCH) / timedelta(microseconds=1)) + 1
        if after_head > start_us:
            log(f"  the log reaches {head['occurred_at']:%Y-%m-%d %H:%M}: the new entries fill the time since")
            start_us = after_head
    first_bulk_job = (AuditEntry.objects.aggregate(job=Max("bulk_job_id"))["job"] or 0) + 1
    sql = insert_statement(AuditEntry, COLUMNS)
    rows = entry_rows(
        missing,
        f"bench-audit:{present}",
        start_us,
        end_us,
        head["entry_hash"] if head else chain.GENESIS,
        first_bulk_job,
    )
    previous_at = COLUMNS.index("prev_hash")
    written = 0
    with bulk_load(AuditEntry, log):
        for block in batched(rows, _COMMIT_EVERY):
            with transaction.atomic(), connection.cursor() as cursor:
                now_head = _head()
                if (now_head["entry_hash"] if now_head else chain.GENESIS) != block[0][previous_at]:
                    raise RuntimeError("Someone else wrote audit entries during the load: the chain would fork.")
                for batch in batched(block, _BATCH):
                    cursor.executemany(sql, batch)
            written += len(block)
            log(f"  {written:>9,} entries  {time.perf_counter() - began:6.1f} s")
    seconds = time.perf_counter() - began
    log(f"  seeded in {seconds:.1f} s")
    return seconds


# --- measuring ----------------------------------------------------------------------------------------------------
@dataclass
class Page:
    """One page of one filter, and its timings."""

    name: str  # first | middle | last
    url: str
    samples: list[float] = field(default_factory=list)


@dataclass
class Filter:
    """One filter as one role sees it: a viewer's queries leave security events out, an admin's do not."""

    name: str
    params: list[tuple[str, str]]
    role: str = ""
    matching: int = 0
    pages: list[Page] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def filters() -> list[Filter]:
    """The filters measured, with values from the log: its busiest person, and a month before its last one."""
    people = AuditEntry.objects.exclude(actor_username__in=["system", "anonymous"])
    busiest = people.values("actor_username").annotate(n=Count("id")).order_by("-n").first()["actor_username"]
    newest = AuditEntry.objects.aggregate(newest=Max("occurred_at"))["newest"]
    since = datetime.combine(newest.date() - timedelta(days=60), datetime.min.time(), tzinfo=UTC)
    until = since + timedelta(days=30)
    return [
        Filter("no filter", []),
        Filter("outcome=failed", [("outcome", "failed")]),
        Filter(f"actor={busiest}", [("actor", busiest)]),
        Filter(
            f"resource=orchestrator, {since:%b %d}-{until:%b %d}",
            [("resource", ORCHESTRATOR), ("since", _iso(since)), ("until", _iso(until))],
        ),
    ]


def _pages(measured: Filter, user) -> list[Page]:
    """The filter's first page, its middle page (older than the entry halfway down) and its last page."""
    _filterset, queryset = filtered_entries(QueryDict(urlencode(measured.params)), user)
    measured.matching = queryset.count()
    middle = queryset.order_by(*NEWEST_FIRST).values_list("id", flat=True)[measured.matching // 2]
    url = reverse("audit:list") + "?"
    return [
        Page("first", url + urlencode(measured.params)),
        Page("middle", url + urlencode([*measured.params, ("before", middle)])),
        Page("last", url + urlencode([*measured.params, ("last", "1")])),
    ]


def _check_fragment(client: Client, url: str) -> None:
    """Fail loudly if the page is not the full entries fragment: that would time the wrong thing."""
    body = client.get(url, HTTP_HX_REQUEST="true").content
    if b"<html" in body or b'class="results-head"' not in body:
        raise RuntimeError(f"{url} did not answer the entries fragment")
    if body.count(b"/audit/") < PAGE_SIZE or b"No entry matches" in body:  # a details link per entry
        raise RuntimeError(f"{url} answered less than a full page")


def measure_pages(rounds: int, warmup: int, log=print) -> list[dict]:
    """Time every page of every filter, for each of `ROLES`, `rounds` times after `warmup` untimed rounds; one
    dict per filter and role."""
    clients = {role: logged_in(role) for role in ROLES}
    measured, pages = [], []
    for role, client in clients.items():
        user = _user(f"bench-{role}", role)  # the one `logged_in` signed in
        for each in filters():
            each.role, each.pages = role, _pages(each, user)
            measured.append(each)
            pages += [(client, page) for page in each.pages]
    for client, page in pages:
        _check_fragment(client, page.url)
    for number in range(warmup + rounds):
        for client, page in pages if number % 2 else reversed(pages):
            elapsed = _get_ms(client, page.url, HTTP_HX_REQUEST="true")
            if number >= warmup:
                page.samples.append(elapsed)
        log(f"  round {number + 1}/{warmup + rounds}{' (warm-up)' if number < warmup else ''}")
    results = []
    for each in measured:
        rows = []
        for page in each.pages:
            summary = _summary(page.samples)
            fast = summary["p95"] <= TARGET_P95_MS
            rows.append(
                {
                    "page": page.name,
                    "url": page.url,
                    "ms": summary,
                    "pass": fast,
                    "slow_queries": [] if fast else slow_queries(clients[each.role], page.url),
                }
            )
        results.append(
            {
                "name": each.name,
                "role": each.role,
                "query": urlencode(each.params),
                "matching_entries": each.matching,
                "pages": rows,
            }
        )
    return results


def _small_window() -> list[tuple[str, str]]:
    """A time range holding about `SMALL_EXPORT` entries: the ones before the newest `SMALL_EXPORT`."""
    moments = AuditEntry.objects.order_by(*NEWEST_FIRST).values_list("occurred_at", flat=True)
    return [("since", _iso(moments[2 * SMALL_EXPORT])), ("until", _iso(moments[SMALL_EXPORT]))]


def measure_exports(client: Client, log=print) -> dict:
    """CSV and JSON Lines exports of about ten thousand entries against the whole log, as `bench/export.py`."""
    small = _small_window()
    figures = {}
    for name in ("csv", "jsonl"):
        path, header = reverse("audit:export", args=[name]), 1 if name == "csv" else 0
        log(f"  {name} export of {unquote(urlencode(small))} ...")
        filtered = export.measure_one(client, small, path=path, header_lines=header)
        log(f"  {name} export of the whole log ...")
        everything = export.measure_one(client, [], path=path, header_lines=header)
        ratio = everything["peak_traced_mib"] / max(filtered["peak_traced_mib"], 0.01)
        figures[name] = {
            "filtered": filtered,
            "all": everything,
            "peak_ratio_all_over_filtered": round(ratio, 2),
            "flat_factor_target": export.FLAT_FACTOR,
            "pass": ratio <= export.FLAT_FACTOR,
        }
    return figures


def measure(rounds: int, warmup: int, log=print) -> dict:
    """Pages as each role, then the exports as an admin (who sees, and exports, the whole log)."""
    log("Audit log pages ...")
    pages = measure_pages(rounds, warmup, log)
    log("Audit log exports ...")
    exports = measure_exports(logged_in("admin"), log)
    return {
        "pages": {
            "page_size": PAGE_SIZE,
            "target_p95_ms": TARGET_P95_MS,
            "timed_requests": rounds,
            "warmup_requests": warmup,
            "roles": list(ROLES),
            "filters": pages,
        },
        "exports": exports,
        "pass": all(p["pass"] for f in pages for p in f["pages"]) and all(e["pass"] for e in exports.values()),
    }
