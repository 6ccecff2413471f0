"""The fixed catalogue the sandbox's demo data is drawn from: statuses and their weights, step failures,
organizations, module runtimes and pipelines. The same for every seed; how records are drawn from it is `seed`'s job.
"""

import random
from dataclasses import dataclass
from typing import Any

LEASE_MS = 15 * 60_000
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
FINISHED_OK = frozenset({"SUCCEEDED", "PENDING_REPROCESSING", "REPROCESSED"})
# The changeSequence range (low, high) of a slice by status; any other status has made 3 to 5 changes.
CHANGE_SEQUENCES = {
    "REQUESTED": (1, 1),
    "PENDING": (1, 2),
    "RUNNING": (2, 3),
    "SKIPPED": (2, 3),
    "CANCELLED": (2, 4),
}
SKIP_REASONS = ("no pages matched the step filter", "document already processed", "empty document")


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def drawn_uuid4(rng: random.Random) -> str:
    """A version 4 UUID drawn from `rng` (the layout of `uuid.uuid4()`, without its slower constructor)."""
    digits = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True, slots=True)
class ModuleRuntime:
    """A deployable pipeline step: its ref (`owner/slug`), platform id and the options pipelines give it."""

    ref: str
    id: str
    options: dict[str, Any]  # JSON, as the step's `stepsConfig` entry carries it

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

    def details(self, rng: random.Random, runtime: ModuleRuntime) -> dict[str, Any]:
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
    return [drawn_uuid4(rng) for _ in range(count)]


_RUNTIME_OPTIONS: dict[str, dict[str, Any]] = {
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


def runtime(name: str) -> ModuleRuntime:
    """The module runtime a pipeline step names: `owner/slug`, or just `slug` for Kodexa's own."""
    return MODULE_RUNTIMES[name if "/" in name else f"kodexa/{name}"]
