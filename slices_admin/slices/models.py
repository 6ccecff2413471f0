"""Cache models: one row per remote slice, exactly as Kodexa last answered it.

Columns are typed copies of the contract fields (named as in Python), `raw` keeps the whole answer including
fields outside the contract. A row changes only from a successful Kodexa answer: a write it accepted or a read.
"""

from django.db import models

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE


class SliceRecord(models.Model):
    id = models.CharField(primary_key=True, max_length=255)
    uuid = models.TextField(null=True, blank=True)
    status = models.TextField(null=True, blank=True, db_index=True)
    organization_id = models.TextField(null=True, blank=True, db_index=True)
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
    updated_on = models.DateTimeField(null=True, blank=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    leased_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    raw = models.JSONField(help_text="Kodexa's answer as received, fields outside the contract included.")
    last_seen_at = models.DateTimeField(help_text="When Kodexa last answered with this record.")

    resource = None  # the contract Resource, set on each concrete model

    class Meta:
        abstract = True
        ordering = ["-updated_on", "id"]

    def __str__(self):
        return self.id


class ExecutionSlice(SliceRecord):
    execution_id = models.TextField(null=True, blank=True, db_index=True)
    module_runtime_ref = models.TextField(null=True, blank=True, db_index=True)
    log_group = models.TextField(null=True, blank=True)
    log_stream = models.TextField(null=True, blank=True)

    resource = EXECUTION_SLICE

    class Meta(SliceRecord.Meta):
        verbose_name = "execution slice"


class OrchestratorSlice(SliceRecord):
    pipeline_execution_id = models.TextField(null=True, blank=True, db_index=True)
    module_runtime_id = models.TextField(null=True, blank=True, db_index=True)
    step_start_order = models.IntegerField(null=True, blank=True)
    step_end_order = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)

    resource = ORCHESTRATOR_SLICE

    class Meta(SliceRecord.Meta):
        verbose_name = "orchestrator execution slice"
        permissions = [("edit_slices", "Can create and update slices on Kodexa")]


MODELS = {EXECUTION_SLICE: ExecutionSlice, ORCHESTRATOR_SLICE: OrchestratorSlice}
