"""The Kodexa API contract as data: every field of both slice resources, its wire type and nullability.

This is the single table the wire schemas, cache models, forms and sandbox are built from. It mirrors the field
tables of the published reference pages; nothing here talks HTTP.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


class WireType(StrEnum):
    INT32 = "int32"
    STRING = "string"
    DATETIME = "date-time"
    OBJECT = "object"


@dataclass(frozen=True, slots=True)
class ContractField:
    wire_name: str
    python_name: str
    type: WireType
    nullable: bool = False


def _field(wire_name: str, type: WireType, nullable: bool = False) -> ContractField:
    python_name = "".join(f"_{c.lower()}" if c.isupper() else c for c in wire_name)
    return ContractField(wire_name, python_name, type, nullable)


_COMMON = (
    _field("attemptNumber", WireType.INT32),
    _field("changeSequence", WireType.INT32),
    _field("completedAt", WireType.DATETIME, nullable=True),
    _field("createdOn", WireType.DATETIME),
    _field("durationMs", WireType.INT32, nullable=True),
    _field("errorDetails", WireType.OBJECT),
    _field("errorMessage", WireType.STRING, nullable=True),
    _field("id", WireType.STRING),
    _field("inputEvent", WireType.OBJECT),
    _field("lambdaRequestId", WireType.STRING, nullable=True),
    _field("leaseExpiresAt", WireType.DATETIME, nullable=True),
    _field("leasedAt", WireType.DATETIME, nullable=True),
    _field("organizationId", WireType.STRING),
    _field("outputEvent", WireType.OBJECT),
    _field("queuedAt", WireType.DATETIME, nullable=True),
    _field("sliceOrder", WireType.INT32),
    _field("startedAt", WireType.DATETIME, nullable=True),
    _field("status", WireType.STRING),
    _field("stepsConfig", WireType.OBJECT),
    _field("updatedOn", WireType.DATETIME),
    _field("uuid", WireType.STRING),
)


def _sorted(*fields: ContractField) -> tuple[ContractField, ...]:
    return tuple(sorted(fields, key=lambda f: f.wire_name))


EXECUTION_SLICE_FIELDS = _sorted(
    *_COMMON,
    _field("executionId", WireType.STRING),
    _field("logGroup", WireType.STRING, nullable=True),
    _field("logStream", WireType.STRING, nullable=True),
    _field("moduleRuntimeRef", WireType.STRING),
)

ORCHESTRATOR_SLICE_FIELDS = _sorted(
    *_COMMON,
    _field("createdAt", WireType.DATETIME),
    _field("moduleRuntimeId", WireType.STRING),
    _field("pipelineExecutionId", WireType.STRING),
    _field("stepEndOrder", WireType.INT32),
    _field("stepStartOrder", WireType.INT32),
)


@dataclass(frozen=True, slots=True)
class Resource:
    """One remote resource: its path under `/api/` and its fields."""

    path: str
    label: str
    fields: tuple[ContractField, ...]
    wire_names: tuple[str, ...] = field(init=False)  # the fields' camelCase names, in order

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire_names", tuple(f.wire_name for f in self.fields))


EXECUTION_SLICE = Resource("execution-slices", "ExecutionSlice", EXECUTION_SLICE_FIELDS)
ORCHESTRATOR_SLICE = Resource("orchestrator-execution-slices", "OrchestratorExecutionSlice", ORCHESTRATOR_SLICE_FIELDS)
RESOURCES = {r.path: r for r in (EXECUTION_SLICE, ORCHESTRATOR_SLICE)}

# The statuses seen on the platform; slices accept any string, this is only the default choice list.
DEFAULT_STATUSES = (
    "PENDING",
    "REQUESTED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "SKIPPED",
    "CANCELLING",
    "CANCELLED",
    "PENDING_REPROCESSING",
    "REPROCESSED",
)


def outside_contract(resource: Resource, record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a record Kodexa returned that the contract does not list (a newer platform's), in its order."""
    return {name: value for name, value in record.items() if name not in resource.wire_names}
