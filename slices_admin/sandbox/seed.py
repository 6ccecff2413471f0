"""Deterministic demo data for the sandbox: pipeline executions broken into slices that look like production.

A seed always yields the same ids, statuses, payloads and relative timings (everything is drawn from a
`random.Random` seeded with it); the timestamps are laid out over the 14 days before the `now` passed in. Organizations
and module runtimes are a fixed catalogue shared by every seed, so data appended later lands in the same
organizations.
"""

import functools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Self

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource
from slices_admin.sandbox.store import SliceStore

_LEASE_MS = 15 * 60_000
_HISTORY_MS = 14 * 86_400_000
_HOUR_MS = 3_600_000
STEP_TIMEOUT_SECONDS = 900
# Share of RUNNING slices whose lease is still live; the others hold a lease that has expired.
LIVE_LEASE_SHARE = 0.55

STATUS_WEIGHTS = {
    "SUCCEEDED": 60,
    "FAILED": 10,
    "RUNNING": 8,
    "PENDING": 10,
    "REQUESTED": 4,
    "SKIPPED": 3,
    "CANCELLED": 3,
    "PENDING_REPROCESSING": 1,
    "REPROCESSED": 1,
}
_STATUSES = tuple(STATUS_WEIGHTS)
_CUMULATIVE_WEIGHTS = tuple(accumulate(STATUS_WEIGHTS.values()))
_FINISHED_OK = frozenset({"SUCCEEDED", "PENDING_REPROCESSING", "REPROCESSED"})
_CHANGE_SEQUENCES = {
    "REQUESTED": (1, 1),
    "PENDING": (1, 2),
    "RUNNING": (2, 3),
    "SKIPPED": (2, 3),
    "CANCELLED": (2, 4),
}
_SKIP_REASONS = ("no pages matched the step filter", "document already processed", "empty document")


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid4(rng: random.Random) -> str:
    """A version 4 UUID drawn from `rng` (the layout of `uuid.uuid4()`, without its slower constructor)."""
    digits = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True, slots=True)
class ModuleRuntime:
    """A deployable pipeline step: its ref (`owner/slug`), platform id and the options pipelines give it."""

    ref: str
    id: str
    options: dict

    @property
    def function_name(self) -> str:
        return self.ref.replace("/", "-")

    @property
    def package(self) -> str:
        return self.ref.split("/")[1].replace("-", "_")


@dataclass(frozen=True, slots=True)
class Failure:
    """One way a step fails: the message, where it is raised and whether a retry may help."""

    message: str
    function: str
    code: str
    retryable: bool

    @property
    def timed_out(self) -> bool:
        return self.message.startswith("TimeoutError")

    def details(self, rng: random.Random, runtime: ModuleRuntime) -> dict:
        return {
            "type": self.message.partition(":")[0],
            "retryable": self.retryable,
            "moduleRef": runtime.ref,
            "traceback": [
                "Traceback (most recent call last):",
                f'  File "/var/task/kodexa_runtime/executor.py", line {rng.randint(180, 260)}, in run_step',
                "    result = step.process(document, context)",
                f'  File "/var/task/{runtime.package}/handler.py", line {rng.randint(20, 400)}, in {self.function}',
                f"    {self.code}",
                self.message,
            ],
        }


FAILURES = (
    Failure("TimeoutError: task exceeded 900s", "process", "return self._run_with_deadline(document)", True),
    Failure("KeyError: 'document_family_id'", "process", "family_id = event['document_family_id']", False),
    Failure("ValueError: page 14 has no text layer", "extract_page", "raise ValueError(msg)", False),
    Failure(
        "botocore.exceptions.ClientError: An error occurred (ThrottlingException) when calling the "
        "InvokeModel operation: Too many requests, please wait before trying again.",
        "call_model",
        "response = bedrock.invoke_model(**request)",
        True,
    ),
    Failure(
        "MemoryError: unable to allocate 512 MiB for page images",
        "render_pages",
        "images = render(doc)",
        True,
    ),
    Failure(
        "json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 2048 (char 2047)",
        "parse_answer",
        "return json.loads(answer)",
        True,
    ),
    Failure(
        "PermissionError: [Errno 13] Permission denied: '/tmp/kodexa/cache'",
        "open_cache",
        "os.makedirs(p)",
        False,
    ),
    Failure("ConnectionResetError: [Errno 104] Connection reset by peer", "fetch_content", "body = s.read()", True),
    Failure(
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        "read_text",
        "return raw.decode('utf-8')",
        False,
    ),
    Failure(
        "AssertionError: extracted total 1204.50 does not match line items 1198.00",
        "validate_totals",
        "assert total == sum(items), msg",
        False,
    ),
    Failure(
        "RuntimeError: LLM response missing required taxon 'invoice/total_amount'",
        "extract",
        "raise RuntimeError(msg)",
        True,
    ),
    Failure(
        "pdfminer.pdfparser.PDFSyntaxError: No /Root object! - Is this really a PDF?",
        "parse",
        "parser = PDFParser(stream)",
        False,
    ),
)


def _catalog_ids(count: int) -> list[str]:
    rng = random.Random("kodexa-sandbox-catalog")
    return [_uuid4(rng) for _ in range(count)]


_RUNTIME_OPTIONS = {
    "kodexa/pdf-parser": {"dpi": 300, "extractImages": False},
    "kodexa/textract-ocr": {"features": ["TABLES", "FORMS"], "languageHints": ["en"]},
    "kodexa/document-classifier": {"taxonomy": "kodexa/document-types:3.2.0", "threshold": 0.82},
    "kodexa/llm-extractor": {
        "model": "claude-sonnet-4-5",
        "taxonomy": "acme/invoice:2.1.0",
        "maxPagesPerCall": 8,
    },
    "kodexa/table-extractor": {"strategy": "lattice", "mergeAcrossPages": True},
    "kodexa/data-validator": {"rules": "acme/invoice-rules:1.4.0", "failOnWarning": False},
    "acme/invoice-classifier": {
        "model": "acme-invoice-v7",
        "labels": ["invoice", "credit-note", "statement"],
    },
    "acme/po-matcher": {"erp": "sap-s4", "tolerancePercent": 2.5},
}
_ORGANIZATION_COUNT = 6
_CATALOG_IDS = _catalog_ids(_ORGANIZATION_COUNT + len(_RUNTIME_OPTIONS))
ORGANIZATIONS = tuple(_CATALOG_IDS[:_ORGANIZATION_COUNT])
MODULE_RUNTIMES = {
    ref: ModuleRuntime(ref, runtime_id, options)
    for (ref, options), runtime_id in zip(_RUNTIME_OPTIONS.items(), _CATALOG_IDS[_ORGANIZATION_COUNT:], strict=True)
}
# Pipelines: the store their documents come from and the module refs of their steps, in order.
PIPELINES = (
    (
        "acme/inbound-invoices",
        ("pdf-parser", "acme/invoice-classifier", "llm-extractor", "data-validator", "acme/po-matcher"),
    ),
    ("kodexa/contracts", ("pdf-parser", "textract-ocr", "document-classifier", "llm-extractor")),
    ("kodexa/bank-statements", ("pdf-parser", "textract-ocr", "table-extractor", "data-validator")),
    (
        "acme/claims",
        ("textract-ocr", "document-classifier", "llm-extractor", "table-extractor", "data-validator"),
    ),
)


def _runtime(name: str) -> ModuleRuntime:
    return MODULE_RUNTIMES[name if "/" in name else f"kodexa/{name}"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive pipeline steps run together as one slice, with the `stepsConfig` its slices carry."""

    start_order: int
    end_order: int
    runtimes: tuple[ModuleRuntime, ...]
    steps_config: dict

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
        chunks.append(Chunk.of(order, tuple(_runtime(name) for name in step_names[order : order + size])))
        order += size
    return tuple(chunks)


def _execution(rng: random.Random, slice_count: int, now: int) -> Execution:
    store, step_names = rng.choice(PIPELINES)
    chunks = _chunks(rng, step_names)
    documents = tuple(
        Document(_uuid4(rng), _uuid4(rng), rng.randint(1, 60)) for _ in range(-(-slice_count // len(chunks)))
    )
    started = now - rng.randint(_HOUR_MS, _HISTORY_MS)
    return Execution(_uuid4(rng), rng.choice(ORGANIZATIONS), store, chunks, documents, started)


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
        if self.queued > leased:
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
    line.completed = _later(rng, line.started, run_seconds, run_seconds)
    return line


def _attempt(rng: random.Random, status: str) -> int:
    if status == "FAILED":
        return rng.choices((1, 2, 3), (45, 30, 25))[0]
    if status == "REPROCESSED":
        return rng.randint(2, 3)
    return rng.choices((1, 2, 3), (88, 9, 3))[0]


def _output_event(rng: random.Random, status: str, document: Document) -> dict:
    if status in _FINISHED_OK:
        return {
            "contentObjectId": _uuid4(rng),
            "documentStatus": "PROCESSED",
            "labels": rng.sample(["invoice", "reviewed", "auto-approved", "needs-review", "multi-page"], 2),
            "metrics": {"pagesProcessed": document.pages, "dataObjects": rng.randint(1, 80)},
        }
    if status == "SKIPPED":
        return {"skipped": True, "reason": rng.choice(_SKIP_REASONS)}
    return {}


def _common_fields(rng: random.Random, execution: Execution, order: int, now: int) -> tuple[dict, Chunk]:
    """The 21 fields both resources share, for slice `order` of `execution`."""
    chunk, document = execution.chunk(order), execution.document(order)
    status = rng.choices(_STATUSES, cum_weights=_CUMULATIVE_WEIGHTS)[0]
    failure = rng.choice(FAILURES) if status == "FAILED" else None
    line = _timeline(rng, status, _later(rng, execution.started, order * 0.2, order * 6), now, failure)
    updated = line.last
    if status == "PENDING_REPROCESSING":
        updated = min(now, _later(rng, updated, 600, 3 * 86_400))
    low, high = _CHANGE_SEQUENCES.get(status, (3, 5))
    record = {
        "attemptNumber": _attempt(rng, status),
        "changeSequence": rng.randint(low, high),
        "completedAt": _instant(line.completed),
        "createdOn": _instant(line.created),
        "durationMs": line.duration_ms,
        "errorDetails": failure.details(rng, chunk.runtimes[0]) if failure else {},
        "errorMessage": failure.message if failure else None,
        "id": _uuid4(rng),
        "inputEvent": {
            "type": "pipeline.slice",
            "executionId": execution.id,
            "store": execution.store,
            "documentFamilyId": document.family_id,
            "contentObjectId": document.content_object_id,
            "pageCount": document.pages,
            "steps": [chunk.start_order, chunk.end_order],
        },
        "lambdaRequestId": _uuid4(rng) if line.started else None,
        "leaseExpiresAt": None if line.leased is None else _instant(line.leased + _LEASE_MS),
        "leasedAt": _instant(line.leased),
        "organizationId": execution.organization_id,
        "outputEvent": _output_event(rng, status, document),
        "queuedAt": _instant(line.queued),
        "sliceOrder": order,
        "startedAt": _instant(line.started),
        "status": status,
        "stepsConfig": chunk.steps_config,
        "updatedOn": _instant(updated),
        "uuid": _uuid4(rng),
    }
    return record, chunk


def _orchestrator_slice(rng: random.Random, execution: Execution, order: int, now: int) -> dict:
    record, chunk = _common_fields(rng, execution, order, now)
    record["createdAt"] = record["createdOn"]
    record["moduleRuntimeId"] = chunk.runtimes[0].id
    record["pipelineExecutionId"] = execution.id
    record["stepStartOrder"] = chunk.start_order
    record["stepEndOrder"] = chunk.end_order
    return record


def _execution_slice(rng: random.Random, execution: Execution, order: int, now: int) -> dict:
    record, chunk = _common_fields(rng, execution, order, now)
    runtime = chunk.runtimes[0]
    started = record["startedAt"]
    record["executionId"] = execution.id
    record["moduleRuntimeRef"] = runtime.ref
    record["logGroup"] = f"/aws/lambda/{runtime.function_name}" if started else None
    record["logStream"] = f"{started[:10].replace('-', '/')}/[$LATEST]{rng.getrandbits(128):032x}" if started else None
    return record


SliceBuilder = Callable[[random.Random, Execution, int, int], dict]


def _slices(resource: Resource, build: SliceBuilder, count: int, seed: int, now: datetime) -> Iterator[dict]:
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


def orchestrator_slices(count: int, seed: int, now: datetime) -> Iterator[dict]:
    """`count` orchestrator slice records, grouped by pipeline execution."""
    return _slices(ORCHESTRATOR_SLICE, _orchestrator_slice, count, seed, now)


def execution_slices(count: int, seed: int, now: datetime) -> Iterator[dict]:
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
