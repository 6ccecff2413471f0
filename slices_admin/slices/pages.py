"""What differs between the two resources' pages (the model, the URL segment, the titles, the group a slice belongs
to, the list's columns) and what the list's filter panel offers. Settings only: no query, no rendering."""

from dataclasses import dataclass

from django.http import Http404

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource

from .models import ExecutionSlice, OrchestratorSlice, SliceRecord


@dataclass(frozen=True)
class Column:
    label: str
    attr: str
    kind: str = "text"  # text | id | status | time | number
    sort: str = ""  # the `sort` parameter value that orders by this column


@dataclass(frozen=True)
class SlicePages:
    """What differs between the two resources' pages."""

    resource: Resource
    model: type[SliceRecord]
    kind: str  # URL segment
    title: str
    group_field: str  # the pipeline execution (or execution) a slice belongs to
    group_param: str
    group_label: str
    runtime_param: str
    columns: tuple[Column, ...]


def _columns(group: Column, runtime: Column) -> tuple[Column, ...]:
    return (
        Column("ID", "id", "id", "id"),
        Column("Status", "status", "status", "status"),
        group,
        runtime,
        Column("Order", "slice_order", "number", "sliceOrder"),
        Column("Attempt", "attempt_number", "number", "attemptNumber"),
        Column("Error", "error_message", "text", "errorMessage"),
        Column("Queued", "queued_at", "time", "queuedAt"),
        Column("Duration", "duration_ms", "duration", "durationMs"),
        Column("Updated", "updated_on", "time", "updatedOn"),
    )


ORCHESTRATOR_PAGES = SlicePages(
    resource=ORCHESTRATOR_SLICE,
    model=OrchestratorSlice,
    kind="orchestrator",
    title="Orchestrator execution slices",
    group_field="pipeline_execution_id",
    group_param="pipelineExecutionId",
    group_label="Pipeline execution",
    runtime_param="moduleRuntimeId",
    columns=_columns(
        Column("Pipeline execution", "pipeline_execution_id", "group", "pipelineExecutionId"),
        Column("Module runtime", "module_runtime_id", "text", "moduleRuntimeId"),
    ),
)
EXECUTION_PAGES = SlicePages(
    resource=EXECUTION_SLICE,
    model=ExecutionSlice,
    kind="execution",
    title="Execution slices",
    group_field="execution_id",
    group_param="executionId",
    group_label="Execution",
    runtime_param="moduleRuntimeRef",
    columns=_columns(
        Column("Execution", "execution_id", "group", "executionId"),
        Column("Module runtime", "module_runtime_ref", "text", "moduleRuntimeRef"),
    ),
)
PAGES = {p.kind: p for p in (ORCHESTRATOR_PAGES, EXECUTION_PAGES)}


def pages_for(kind: str) -> SlicePages:
    """The pages of the resource a URL names; any other segment is a 404."""
    try:
        return PAGES[kind]
    except KeyError:
        raise Http404 from None


TIME_RANGES = (
    ("queuedAt", "Queued"),
    ("startedAt", "Started"),
    ("completedAt", "Completed"),
    ("updatedOn", "Updated"),
)
MORE_FILTERS = (
    "organizationId", "moduleRuntimeId", "moduleRuntimeRef", "attemptAtLeast", "queuedAt_after", "queuedAt_before",
    "startedAt_after", "startedAt_before", "completedAt_after", "completedAt_before", "updatedOn_after",
    "updatedOn_before",
)  # fmt: skip
