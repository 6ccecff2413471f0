"""Deterministic demo data for the sandbox: pipeline executions broken into slices that look like production.

A seed always yields the same ids, statuses, payloads and relative timings (everything is drawn from a
`random.Random` seeded with it); the timestamps are laid out over the 14 days before the `now` passed in. What is
drawn from (organizations, runtimes, failures, status weights) is `catalog`'s, shared by every seed.
"""

import functools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, Self, cast

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource
from slices_admin.sandbox.catalog import (
    CHANGE_SEQUENCES,
    FAILURES,
    FINISHED_OK,
    LEASE_MS,
    LIVE_LEASE_SHARE,
    ORGANIZATIONS,
    PIPELINES,
    SKIP_REASONS,
    STATUS_WEIGHTS,
    STEP_TIMEOUT_SECONDS,
    Failure,
    ModuleRuntime,
    drawn_uuid4,
    runtime,
)
from slices_admin.sandbox.store import SliceStore

_HISTORY_MS = 14 * 86_400_000
_HOUR_MS = 3_600_000
_STATUSES = tuple(STATUS_WEIGHTS)
_CUMULATIVE_WEIGHTS = tuple(accumulate(STATUS_WEIGHTS.values()))


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive pipeline steps run together as one slice, with the `stepsConfig` its slices carry."""

    start_order: int
    end_order: int
    runtimes: tuple[ModuleRuntime, ...]
    steps_config: dict[str, Any]

    @classmethod
    def of(cls, start_order: int, runtimes: tuple[ModuleRuntime, ...]) -> Self:
        steps = [
            {"order": start_order + i, "moduleRef": rt.ref, "moduleRuntimeId": rt.id, "options": rt.options}
            for i, rt in enumerate(runtimes)
        ]
        steps_config = {"steps": steps, "timeoutSeconds": STEP_TIMEOUT_SECONDS, "memoryMb": 2048}
        return cls(start_order, start_order + len(runtimes) - 1, runtimes, steps_config)


@dataclass(frozen=True, slots=True)
class Document:
    """A document an execution processes, named in the `inputEvent` of each of its slices."""

    family_id: str
    content_object_id: str
    pages: int


@dataclass(frozen=True, slots=True)
class Execution:
    """One pipeline execution: its documents each go through every chunk, one slice per (document, chunk)."""

    id: str
    organization_id: str
    store: str
    chunks: tuple[Chunk, ...]
    documents: tuple[Document, ...]
    started: int  # epoch milliseconds

    def chunk(self, slice_order: int) -> Chunk:
        return self.chunks[slice_order % len(self.chunks)]

    def document(self, slice_order: int) -> Document:
        return self.documents[slice_order // len(self.chunks)]


def _slice_count(rng: random.Random) -> int:
    """5 to 40 slices, about 15 on average."""
    return 5 + int(rng.betavariate(1.4, 3.5) * 36)


def _chunks(rng: random.Random, step_names: tuple[str, ...]) -> tuple[Chunk, ...]:
    chunks, order = [], 0
    while order < len(step_names):
        size = min(rng.randint(1, 3), len(step_names) - order)
        chunks.append(Chunk.of(order, tuple(runtime(name) for name in step_names[order : order + size])))
        order += size
    return tuple(chunks)


def _execution(rng: random.Random, slice_count: int, now: int) -> Execution:
    store, step_names = rng.choice(PIPELINES)
    chunks = _chunks(rng, step_names)
    documents = tuple(
        Document(drawn_uuid4(rng), drawn_uuid4(rng), rng.randint(1, 60)) for _ in range(-(-slice_count // len(chunks)))
    )
    started = now - rng.randint(_HOUR_MS, _HISTORY_MS)
    return Execution(drawn_uuid4(rng), rng.choice(ORGANIZATIONS), store, chunks, documents, started)


def _later(rng: random.Random, moment: int, low_seconds: float, high_seconds: float) -> int:
    """A moment between `low_seconds` and `high_seconds` after `moment` (all in epoch milliseconds)."""
    return moment + int(1000 * (low_seconds + rng.random() * (high_seconds - low_seconds)))


@functools.lru_cache(maxsize=32_768)
def _minute_text(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")


def _instant(moment: int | None) -> str | None:
    """The text `format_instant` gives for a moment in epoch milliseconds, built faster from a per-minute prefix."""
    if moment is None:
        return None
    minute, millis = divmod(moment, 60_000)
    seconds, millis = divmod(millis, 1000)
    return f"{_minute_text(minute)}{seconds:02d}{f'.{millis:03d}' if millis else ''}Z"


@dataclass(slots=True)
class Timeline:
    """The moments of one slice's life in epoch milliseconds; a later stage is only set once earlier ones are."""

    created: int
    queued: int | None = None
    leased: int | None = None
    started: int | None = None
    completed: int | None = None

    @property
    def last(self) -> int:
        return self.completed or self.started or self.leased or self.queued or self.created

    @property
    def duration_ms(self) -> int | None:
        if self.started is None or self.completed is None:
            return None
        return self.completed - self.started

    def move_lease_to(self, rng: random.Random, leased: int) -> None:
        """Make the slice leased at `leased`, pulling its queue and creation times back if needed."""
        self.leased = leased
        self.started = _later(rng, leased, 0.05, 3)
        if cast(int, self.queued) > leased:  # set, since a slice is queued before it is leased
            self.queued = leased - rng.randint(500, 60_000)
            self.created = min(self.created, self.queued - rng.randint(50, 5_000))


def _run_seconds(rng: random.Random, failure: Failure | None) -> float:
    if failure is not None and failure.timed_out:
        return STEP_TIMEOUT_SECONDS + rng.uniform(0.01, 0.5)
    return min(STEP_TIMEOUT_SECONDS - 10, 0.2 + rng.lognormvariate(2.3, 1.1))


def _timeline(rng: random.Random, status: str, created: int, now: int, failure: Failure | None) -> Timeline:
    line = Timeline(created)
    if status == "REQUESTED":
        return line
    line.queued = _later(rng, created, 0.05, 5)
    if status == "PENDING":
        return line
    if status == "SKIPPED" or (status == "CANCELLED" and rng.random() < 0.5):
        line.completed = _later(rng, line.queued, 0.05, 600)
        return line
    line.move_lease_to(rng, _later(rng, line.queued, 0.1, 600))
    if status == "RUNNING":
        if rng.random() < LIVE_LEASE_SHARE:
            line.move_lease_to(rng, now - rng.randint(20_000, 720_000))
        return line
    run_seconds = _run_seconds(rng, failure)
    if status == "CANCELLED":
        run_seconds = rng.uniform(0.5, run_seconds)
    line.completed = _later(rng, cast(int, line.started), run_seconds, run_seconds)  # set by move_lease_to
    return line


def _attempt(rng: random.Random, status: str) -> int:
    if status == "FAILED":
        return rng.choices((1, 2, 3), (45, 30, 25))[0]
    if status == "REPROCESSED":
        return rng.randint(2, 3)
    return rng.choices((1, 2, 3), (88, 9, 3))[0]


def _output_event(rng: random.Random, status: str, document: Document) -> dict[str, Any]:
    if status in FINISHED_OK:
        return {
            "contentObjectId": drawn_uuid4(rng),
            "documentStatus": "PROCESSED",
            "labels": rng.sample(["invoice", "reviewed", "auto-approved", "needs-review", "multi-page"], 2),
            "metrics": {"pagesProcessed": document.pages, "dataObjects": rng.randint(1, 80)},
        }
    if status == "SKIPPED":
        return {"skipped": True, "reason": rng.choice(SKIP_REASONS)}
    return {}


def _common_fields(rng: random.Random, execution: Execution, order: int, now: int) -> tuple[dict[str, Any], Chunk]:
    """The 21 fields both resources share, for slice `order` of `execution`."""
    chunk, document = execution.chunk(order), execution.document(order)
    status = rng.choices(_STATUSES, cum_weights=_CUMULATIVE_WEIGHTS)[0]
    failure = rng.choice(FAILURES) if status == "FAILED" else None
    line = _timeline(rng, status, _later(rng, execution.started, order * 0.2, order * 6), now, failure)
    updated = line.last
    if status == "PENDING_REPROCESSING":
        updated = min(now, _later(rng, updated, 600, 3 * 86_400))
    low, high = CHANGE_SEQUENCES.get(status, (3, 5))
    record: dict[str, Any] = {
        "attemptNumber": _attempt(rng, status),
        "changeSequence": rng.randint(low, high),
        "completedAt": _instant(line.completed),
        "createdOn": _instant(line.created),
        "durationMs": line.duration_ms,
        "errorDetails": failure.details(rng, chunk.runtimes[0]) if failure else {},
        "errorMessage": failure.message if failure else None,
        "id": drawn_uuid4(rng),
        "inputEvent": {
            "type": "pipeline.slice",
            "executionId": execution.id,
            "store": execution.store,
            "documentFamilyId": document.family_id,
            "contentObjectId": document.content_object_id,
            "pageCount": document.pages,
            "steps": [chunk.start_order, chunk.end_order],
        },
        "lambdaRequestId": drawn_uuid4(rng) if line.started else None,
        "leaseExpiresAt": None if line.leased is None else _instant(line.leased + LEASE_MS),
        "leasedAt": _instant(line.leased),
        "organizationId": execution.organization_id,
        "outputEvent": _output_event(rng, status, document),
        "queuedAt": _instant(line.queued),
        "sliceOrder": order,
        "startedAt": _instant(line.started),
        "status": status,
        "stepsConfig": chunk.steps_config,
        "updatedOn": _instant(updated),
        "uuid": drawn_uuid4(rng),
    }
    return record, chunk


def _orchestrator_slice(rng: random.Random, execution: Execution, order: int, now: int) -> dict[str, Any]:
    record, chunk = _common_fields(rng, execution, order, now)
    record["createdAt"] = record["createdOn"]
    record["moduleRuntimeId"] = chunk.runtimes[0].id
    record["pipelineExecutionId"] = execution.id
    record["stepStartOrder"] = chunk.start_order
    record["stepEndOrder"] = chunk.end_order
    return record


def _execution_slice(rng: random.Random, execution: Execution, order: int, now: int) -> dict[str, Any]:
    record, chunk = _common_fields(rng, execution, order, now)
    runtime = chunk.runtimes[0]
    started = record["startedAt"]
    record["executionId"] = execution.id
    record["moduleRuntimeRef"] = runtime.ref
    record["logGroup"] = f"/aws/lambda/{runtime.function_name}" if started else None
    record["logStream"] = f"{started[:10].replace('-', '/')}/[$LATEST]{rng.getrandbits(128):032x}" if started else None
    return record


SliceBuilder = Callable[[random.Random, Execution, int, int], dict[str, Any]]


def _slices(resource: Resource, build: SliceBuilder, count: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{resource.path}:{seed}")
    now_ms = int(now.timestamp() * 1000)
    wire_names = resource.wire_names
    produced = 0
    while produced < count:
        size = min(_slice_count(rng), count - produced)
        execution = _execution(rng, size, now_ms)
        for order in range(size):
            record = build(rng, execution, order, now_ms)
            yield {name: record[name] for name in wire_names}
        produced += size


def orchestrator_slices(count: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    """`count` orchestrator slice records, grouped by pipeline execution."""
    return _slices(ORCHESTRATOR_SLICE, _orchestrator_slice, count, seed, now)


def execution_slices(count: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    """`count` execution slice records, grouped by execution."""
    return _slices(EXECUTION_SLICE, _execution_slice, count, seed, now)


def seed_store(store: SliceStore, *, orchestrator_count: int, execution_count: int, seed: int) -> dict[str, int]:
    """Append demo data; answer how many records of each kind were added (ids already taken are skipped)."""
    now = datetime.now(UTC)
    return {
        "orchestratorSlices": store.insert_many(
            ORCHESTRATOR_SLICE.path, orchestrator_slices(orchestrator_count, seed, now)
        ),
        "executionSlices": store.insert_many(EXECUTION_SLICE.path, execution_slices(execution_count, seed, now)),
    }
