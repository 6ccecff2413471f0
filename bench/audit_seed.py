"""Seeding the audit log: a year of realistic entries, written in a few minutes.

People and "system" patch, update and create slices, refresh them, sync, sign in and out, fail to sign in and are
refused; about 8% of attempts fail, 3% conflict and 2% are rejected; about 5% of entries belong to bulk jobs (their
start, one update per slice, now and then a cancel). Changes carry small before/after records of a status change and
the diff `record_attempt` would compute. Entries form a valid hash chain continuing from the log's head (so topping
the log up keeps `manage.py verify_audit` passing), each hashed by `audit.chain` itself; `occurred_at` grows with
the id, as the chain's writers guarantee. New entries fill the year before the load, or the time since the head
when the log already reaches into that year. Secondary indexes are dropped for the load and rebuilt after it, and
the planner statistics refreshed, as `bench/seed.py` does for slices.
"""

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate, batched

from django.db import connection, transaction
from django.db.models import Max

from slices_admin.audit import chain
from slices_admin.audit.models import ACCOUNT, AuditEntry

from .audit_events import CHANGE_FAILURES, EXECUTION, ORCHESTRATOR, EntryParts, draw, uuid
from .seed import BATCH, COMMIT_EVERY, bulk_load, insert_statement

# Single events (a bulk job is drawn apart): action → weight.
_ACTIONS = {
    "patch": 38, "update": 22, "create": 9, "refresh": 14, "sync": 3, "login": 7, "logout": 3, "login_failed": 1.5,
    "permission_denied": 1.2, "role_change": 0.05,
}  # fmt: skip
_ACTION_NAMES, _ACTION_WEIGHTS = tuple(_ACTIONS), tuple(accumulate(_ACTIONS.values()))
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
HISTORY_US = 365 * 86_400 * 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_FIELDS = frozenset({"request_body", "response_body", "before", "after", "diff"})
# Every column the loader fills, in the order of the row tuples: the hashed fields and the hash (no id, no actor).
COLUMNS = (*chain.CURRENT_FIELDS, "entry_hash")


class _Events(EntryParts):
    """Audit entries as the console writes them, one event (or one bulk job) at a time, without time or chain."""

    # --- events --------------------------------------------------------------------------------------------------
    def next(self) -> list[dict]:
        """The entries of the next event: one, or a whole bulk job."""
        if self.rng.random() < _BULK_JOB_CHANCE:
            return self._bulk_job()
        return [getattr(self, f"_{draw(self.rng, _ACTION_NAMES, _ACTION_WEIGHTS)}")()]

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
        person, slice_id = self._person(), uuid(self.rng)
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
            error=rng.choice(CHANGE_FAILURES)[1] if failed else "",
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


def _column(name: str, value):
    """A hashed value as the row stores it: JSON as text, a date-time as Django's SQLite text (naive UTC)."""
    if name in _JSON_FIELDS:
        return None if value is None else json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S.%f}"
    return value


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
            values["occurred_at"] = EPOCH + timedelta(microseconds=begins + offset * step)
            values["prev_hash"] = previous
            previous = chain.entry_hash(values)
            yield (*(_column(name, values[name]) for name in chain.CURRENT_FIELDS), previous)
        produced += len(group)


def _head() -> dict | None:
    return AuditEntry.objects.order_by("-id").values("id", "occurred_at", "entry_hash").first()


@dataclass
class Missing:
    """The entries a load adds to reach its target: how many, chained after which head, generated as `rows`."""

    present: int
    head: dict | None
    rows: Iterator


def missing_entries(target: int, seed_prefix: str, log=print) -> Missing | None:
    """What topping the audit log up to `target` entries writes, or None when none are missing. The new entries fill
    the year before now, or the time since the head when the log already reaches into that year."""
    present = AuditEntry.objects.count()
    missing = target - present
    if missing <= 0:
        log(f"Audit log holds {present:,} entries: reusing them.")
        return None
    log(f"Audit log holds {present:,} entries: adding {missing:,} ...")
    head = _head()
    end_us = int(time.time() * 1_000_000)
    start_us = end_us - HISTORY_US
    if head is not None:
        after_head = int((head["occurred_at"] - EPOCH) / timedelta(microseconds=1)) + 1
        if after_head > start_us:
            log(f"  the log reaches {head['occurred_at']:%Y-%m-%d %H:%M}: the new entries fill the time since")
            start_us = after_head
    first_bulk_job = (AuditEntry.objects.aggregate(job=Max("bulk_job_id"))["job"] or 0) + 1
    previous = head["entry_hash"] if head else chain.GENESIS
    rows = entry_rows(missing, f"{seed_prefix}:{present}", start_us, end_us, previous, first_bulk_job)
    return Missing(present, head, rows)


def ensure_entries(target: int, log=print) -> float | None:
    """Top the audit log up to `target` entries; answer the seconds it took, or None when none were missing."""
    began = time.perf_counter()
    missing = missing_entries(target, "bench-audit", log)
    if missing is None:
        return None
    rows = missing.rows
    sql = insert_statement(AuditEntry, COLUMNS)
    previous_at = COLUMNS.index("prev_hash")
    written = 0
    with bulk_load(AuditEntry, log):
        for block in batched(rows, COMMIT_EVERY):
            with transaction.atomic(), connection.cursor() as cursor:
                now_head = _head()
                if (now_head["entry_hash"] if now_head else chain.GENESIS) != block[0][previous_at]:
                    raise RuntimeError("Someone else wrote audit entries during the load: the chain would fork.")
                for batch in batched(block, BATCH):
                    cursor.executemany(sql, batch)
            written += len(block)
            log(f"  {written:>9,} entries  {time.perf_counter() - began:6.1f} s")
    seconds = time.perf_counter() - began
    log(f"  seeded in {seconds:.1f} s")
    return seconds
