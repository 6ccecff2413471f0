"""Cache models: one row per remote slice, exactly as Kodexa last answered it.

Columns are typed copies of the contract fields (named as in Python), `raw` keeps the whole answer including
fields outside the contract. A row changes only from a successful Kodexa answer: a write it accepted or a read.
"""

from typing import ClassVar, Self

from django.conf import settings
from django.db import models

from slices_admin.core.indexes import SortIndex
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource

# The lifecycle sorts that get an index starting with the status, on PostgreSQL: key → column.
_STATUS_SORTS = {
    "duration": "duration_ms",
    "queued": "queued_at",
    "started": "started_at",
    "completed": "completed_at",
    "attempt": "attempt_number",
    "error": "error_message",
}
# The sorts whose empty values are the unfinished slices (no duration, no completion; not yet queued or started).
_LIFECYCLE_SORTS = {
    "duration": "duration_ms",
    "queued": "queued_at",
    "started": "started_at",
    "completed": "completed_at",
}


class SliceRecord(models.Model):
    id = models.CharField(primary_key=True, max_length=255)
    uuid = models.TextField(null=True, blank=True)
    status = models.TextField(null=True, blank=True)
    organization_id = models.TextField(null=True, blank=True)
    attempt_number = models.IntegerField(null=True, blank=True)
    change_sequence = models.IntegerField(null=True, blank=True)
    slice_order = models.IntegerField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    error_details = models.JSONField(null=True, blank=True)
    input_event = models.JSONField(null=True, blank=True)
    output_event = models.JSONField(null=True, blank=True)
    steps_config = models.JSONField(null=True, blank=True)
    lambda_request_id = models.TextField(null=True, blank=True)
    created_on = models.DateTimeField(null=True, blank=True)
    updated_on = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    leased_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    raw = models.JSONField(help_text="Kodexa's answer as received, fields outside the contract included.")
    last_seen_at = models.DateTimeField(help_text="When Kodexa last answered with this record.")
    gone_at = models.DateTimeField(
        null=True, blank=True, help_text="When a full sync last found Kodexa no longer returns this record."
    )
    open_lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="leaseExpiresAt while the slice is leased and not completed, else null: what 'lease expired' "
        "filters on, with an index of its own.",
    )

    resource: ClassVar[Resource | None] = None  # the contract Resource, set on each concrete model
    # Declared for the type checker only: Django gives each concrete model its own `objects`.
    objects: ClassVar[models.Manager[Self]]

    class Meta:
        abstract = True
        ordering = ["-updated_on", "-id"]
        # Every list sort has an index ending in id (the tie-break), and every filter one that also serves the
        # default sort; SQLite and PostgreSQL walk them in either direction. Empty values come first in each column,
        # as the lists sort them (see `core.indexes`).
        indexes = [
            # error_message rides along so a text search walking the newest first is answered from the index.
            SortIndex(fields=["updated_on", "id", "error_message"], name="%(class)s_updated"),
            SortIndex(fields=["created_on", "id"], name="%(class)s_created"),
            SortIndex(fields=["queued_at", "id"], name="%(class)s_queued"),
            SortIndex(fields=["started_at", "id"], name="%(class)s_started"),
            SortIndex(fields=["completed_at", "id"], name="%(class)s_completed"),
            SortIndex(fields=["attempt_number", "id"], name="%(class)s_attempt"),
            SortIndex(fields=["slice_order", "id"], name="%(class)s_order"),
            SortIndex(fields=["duration_ms", "id"], name="%(class)s_duration"),
            SortIndex(fields=["error_message", "id"], name="%(class)s_error"),
            SortIndex(fields=["status", "updated_on", "id"], name="%(class)s_status"),
            SortIndex(fields=["organization_id", "updated_on", "id"], name="%(class)s_org"),
            SortIndex(fields=["uuid"], name="%(class)s_uuid"),
            SortIndex(
                fields=["updated_on", "id", "open_lease_expires_at"],
                name="%(class)s_open_lease",
                condition=models.Q(open_lease_expires_at__isnull=False),
            ),
            # PostgreSQL only: a status with each lifecycle sort. Which columns are empty follows the lifecycle
            # (pending slices have not started, only failed ones carry an error), so "running, sorted by duration"
            # finds every match at the far end of the duration index; an index that starts with the status reads
            # only the page. SQLite's planner does without them (`make bench`).
            *(
                SortIndex(
                    fields=["status", column, "id"],
                    name=f"%(class)s_st_{key}",
                    postgres_only=True,
                    # The dashboard's count of slices queued too long and never started is read from this one.
                    include=["started_at"] if key == "queued" else None,
                )
                for key, column in _STATUS_SORTS.items()
            ),
            # PostgreSQL only: "has an error" under a lifecycle sort. The errors (a tenth of the cache) are all on
            # finished slices, while the unfinished ones fill the empty start of these sorts' indexes and the newest
            # starts are still running: a page of errors walked past 2.2 million rows at 10,000,000 slices. Each of
            # these holds the error rows alone (65 MB at 10M), and the "has error" condition matches their predicate.
            *(
                SortIndex(
                    fields=[column, "id"],
                    name=f"%(class)s_e_{key}",
                    postgres_only=True,
                    condition=models.Q(error_message__gt=""),
                )
                for key, column in _LIFECYCLE_SORTS.items()
            ),
            # Filters people combine with a status: the count a list shows (up to 10,000) is read from the index.
            SortIndex(
                fields=["status", "organization_id", "updated_on", "id"], name="%(class)s_st_org", postgres_only=True
            ),
            # "Running, lease expired": the slices to look at first when workers die.
            SortIndex(
                fields=["status", "open_lease_expires_at"],
                name="%(class)s_st_lease",
                postgres_only=True,
                condition=models.Q(open_lease_expires_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.id


class ExecutionSlice(SliceRecord):
    execution_id = models.TextField(null=True, blank=True)
    module_runtime_ref = models.TextField(null=True, blank=True)
    log_group = models.TextField(null=True, blank=True)
    log_stream = models.TextField(null=True, blank=True)

    resource = EXECUTION_SLICE

    class Meta(SliceRecord.Meta):
        verbose_name = "execution slice"
        indexes = [
            *SliceRecord.Meta.indexes,
            SortIndex(fields=["execution_id", "slice_order", "id"], name="execslice_execution"),
            SortIndex(fields=["module_runtime_ref", "updated_on", "id"], name="execslice_runtime"),
            SortIndex(fields=["module_runtime_ref", "duration_ms"], name="execslice_runtime_duration"),
        ]


class OrchestratorSlice(SliceRecord):
    pipeline_execution_id = models.TextField(null=True, blank=True)
    module_runtime_id = models.TextField(null=True, blank=True)
    step_start_order = models.IntegerField(null=True, blank=True)
    step_end_order = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)

    resource = ORCHESTRATOR_SLICE

    class Meta(SliceRecord.Meta):
        verbose_name = "orchestrator execution slice"
        indexes = [
            *SliceRecord.Meta.indexes,
            SortIndex(fields=["pipeline_execution_id", "slice_order", "id"], name="orchslice_pipeline"),
            SortIndex(fields=["module_runtime_id", "updated_on", "id"], name="orchslice_runtime"),
            SortIndex(fields=["module_runtime_id", "duration_ms"], name="orchslice_runtime_duration"),
        ]
        permissions = [("edit_slices", "Can create and update slices on Kodexa")]


MODELS: dict[Resource, type[SliceRecord]] = {EXECUTION_SLICE: ExecutionSlice, ORCHESTRATOR_SLICE: OrchestratorSlice}


class SavedView(models.Model):
    """A named list filter the whole team sees: the query string of a list page, nothing more."""

    kind = models.CharField(max_length=16)  # the list it belongs to: "orchestrator" or "execution"
    name = models.CharField(max_length=80)
    query = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return self.name


class SyncRun(models.Model):
    """One pull of a resource from Kodexa's list endpoint into the cache, by a person, a task or cron."""

    class Mode(models.TextChoices):
        INCREMENTAL = "incremental", "Incremental"  # what changed since the newest cached record
        FULL = "full", "Full"  # everything, flagging what Kodexa no longer has

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    resource = models.CharField(max_length=64)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.INCREMENTAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.IntegerField(default=0)
    records = models.IntegerField(default=0)
    expected = models.IntegerField(null=True, blank=True, help_text="Kodexa's totalElements, when it says.")
    gone = models.IntegerField(default=0)
    newest_seen = models.DateTimeField(
        null=True, blank=True, help_text="The newest updatedOn this run read: where the next incremental sync stops."
    )
    error = models.TextField(blank=True)
    worker = models.CharField(
        max_length=64, blank=True, help_text="The background worker (host:pid) carrying it out; empty from a command."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["resource", "-created_at"], name="syncrun_resource")]

    def __str__(self) -> str:
        return f"{self.mode} sync of {self.resource} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    @property
    def percent(self) -> int | None:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.expected:
            return None
        return min(99, round(self.records * 100 / self.expected))


class DashboardSnapshot(models.Model):
    """The landing page's figures as last computed (`slices.dashboard`), one row per resource: background workers
    keep it fresh, so no page view pays for the aggregates."""

    resource = models.CharField(primary_key=True, max_length=64)
    computed_at = models.DateTimeField(null=True, blank=True)  # empty until the first compute is stored
    figures = models.JSONField(null=True, blank=True, help_text="The Dashboard, as `dashboard.to_json` writes it.")
    duration_ms = models.IntegerField(null=True, blank=True, help_text="What computing it took.")
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while a process computes the next one, so no other does; a claim whose process died "
        "mid-compute lapses at this time.",
    )

    def __str__(self) -> str:
        return f"dashboard of {self.resource} computed {self.computed_at}"
