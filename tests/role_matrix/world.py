"""The roles, what a change needs, and the world every request of the role matrix acts on (a slice on the sandbox, a
bulk job, users, tokens, admin objects)."""

from datetime import timedelta
from functools import cached_property

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.slices.cache import cache_records
from slices_admin.slices.forms import SliceRecordForm
from slices_admin.slices.models import SavedView, SyncRun
from slices_admin.tokens.models import APIToken
from tests.factories import api_token, cache_orchestrator, execution_record

ANONYMOUS, VIEWER, OPERATOR, ADMIN = "anonymous", "viewer", "operator", "admin"
ROLES = (ANONYMOUS, VIEWER, OPERATOR, ADMIN)
METHODS = ("POST", "PUT", "PATCH", "DELETE")

# What a change through a pattern needs, weakest first. READ_ONLY: the pattern changes nothing, whatever the method
# and whoever asks; NOBODY: it takes changes, but refuses them to everyone (the read-only admin models).
READ_ONLY, PUBLIC, SIGNED_IN, VIEWER_ROLE, OPERATOR_ROLE, ADMIN_ROLE, NOBODY = (
    "read-only", "public", "signed-in", "viewer", "operator", "admin", "nobody",
)  # fmt: skip
RANK = {PUBLIC: 0, SIGNED_IN: 1, VIEWER_ROLE: 1, OPERATOR_ROLE: 2, ADMIN_ROLE: 3, NOBODY: 99}
ROLERANK = {ANONYMOUS: 0, VIEWER: 1, OPERATOR: 2, ADMIN: 3}

PASSWORD = "x" * 12  # what the `make_user` fixture gives every user
NEW_PASSWORD = "role-matrix-new-password-7"


class World:
    """The real objects that URL kwargs and request bodies name, each made on first use: a case makes only what its
    URL and request need."""

    def __init__(self, actor, make_user, remote_record: dict):
        self.actor = actor  # None for an anonymous visitor
        self._make_user = make_user
        self._remote_record = remote_record

    @cached_property
    def owner(self):
        """Someone else, who made the jobs."""
        return self._make_user("operator")

    @cached_property
    def bystander(self):
        """A user with no role and nothing attached: the one the user admin changes or deletes."""
        return get_user_model().objects.create_user(f"bystander-{id(self)}", password=PASSWORD)

    @cached_property
    def orchestrator(self) -> dict:
        """An orchestrator slice that exists on the sandbox, cached as a sync leaves it."""
        return cache_orchestrator(dict(self._remote_record))[0]

    @cached_property
    def execution(self) -> dict:
        record = execution_record()
        cache_records(EXECUTION_SLICE, [record])
        return record

    @cached_property
    def sync_run(self) -> SyncRun:
        """A finished sync: a new one may start (a queued one would be reused instead)."""
        return SyncRun.objects.create(resource=ORCHESTRATOR_SLICE.path, status=SyncRun.Status.SUCCEEDED)

    @cached_property
    def saved_view(self) -> SavedView:
        """The actor's own saved view (someone else's for an anonymous visitor)."""
        return SavedView.objects.create(
            kind="orchestrator", name="Failed ones", query="status=FAILED", created_by=self.actor or self.owner
        )

    @cached_property
    def open_job(self) -> BulkEditJob:
        """A queued bulk edit with an item still to send: it can be cancelled."""
        return self._job(BulkEditJob.State.QUEUED, BulkEditItem.State.PENDING)

    @cached_property
    def failed_job(self) -> BulkEditJob:
        """A finished bulk edit with a failed item: it can be retried."""
        return self._job(BulkEditJob.State.FINISHED, BulkEditItem.State.FAILED)

    @cached_property
    def succeeded_job(self) -> BulkEditJob:
        """A finished bulk edit whose item wrote the slice's cached version: it can be undone."""
        job = self._job(BulkEditJob.State.FINISHED, BulkEditItem.State.SUCCEEDED)
        job.items.update(before_status="RUNNING", result_change_sequence=self.orchestrator["changeSequence"])
        return job

    @cached_property
    def awaiting_job(self) -> BulkEditJob:
        """A bulk edit of one slice waiting for approval (the owner asked): it can be approved or rejected."""
        expires = timezone.now() + timedelta(hours=1)
        return self._waiting(BulkEditJob.State.AWAITING_APPROVAL, approval_expires_at=expires)

    @cached_property
    def scheduled_job(self) -> BulkEditJob:
        """A bulk edit of one slice scheduled for tomorrow: it can be started now."""
        return self._waiting(BulkEditJob.State.SCHEDULED, start_at=timezone.now() + timedelta(days=1))

    @cached_property
    def paused_job(self) -> BulkEditJob:
        """A paused bulk edit with an item still to send: it can be resumed."""
        return self._job(BulkEditJob.State.PAUSED, BulkEditItem.State.PENDING)

    def _waiting(self, state: str, **fields) -> BulkEditJob:
        return BulkEditJob.objects.create(
            created_by=self.owner,
            selection={"ids": [self.orchestrator["id"]]},
            target_status="CANCELLED",
            reason="role matrix",
            concurrency=1,
            state=state,
            requested_count=1,
            **fields,
        )

    def _job(self, state: str, item_state: str) -> BulkEditJob:
        job = BulkEditJob.objects.create(
            created_by=self.owner,
            selection={"ids": [self.orchestrator["id"]]},
            target_status="CANCELLED",
            reason="role matrix",
            concurrency=1,
            state=state,
        )
        BulkEditItem.objects.create(job=job, slice_id=self.orchestrator["id"], state=item_state)
        return job

    @cached_property
    def audit_entry(self) -> AuditEntry:
        """The audit entry of the owner's role being set."""
        return AuditEntry.objects.get(remote_id=self.owner.get_username(), action=AuditEntry.Action.ROLE_CHANGE)

    @cached_property
    def group(self) -> Group:
        return Group.objects.create(name="on-call")

    @cached_property
    def token(self) -> APIToken:
        """Someone else's (the owner's) active API token: admins may revoke it."""
        api_token(self.owner, name="owner's")
        return APIToken.objects.filter(user=self.owner).latest("id")

    @cached_property
    def own_token(self) -> APIToken:
        """The actor's own active API token (someone else's for an anonymous visitor)."""
        user = self.actor or self.owner
        api_token(user, name="own")
        return APIToken.objects.filter(user=user).latest("id")

    @cached_property
    def task(self):
        from slices_admin.slices.tasks import run_sync

        result = run_sync.enqueue(self.sync_run.pk)
        return apps.get_model("django_tasks_database", "DBTaskResult").objects.get(pk=result.id)

    @cached_property
    def access_attempt(self):
        return self._access("AccessAttempt", get_data="", post_data="", failures_since_start=1)

    @cached_property
    def access_log(self):
        return self._access("AccessLog")

    @cached_property
    def access_failure_log(self):
        return self._access("AccessFailureLog", locked_out=False)

    def _access(self, model: str, **fields):
        return apps.get_model("axes", model).objects.create(
            user_agent="role-matrix", ip_address="127.0.0.1", username="someone", http_accept="*/*",
            path_info="/login/", **fields,
        )  # fmt: skip

    def edit_form(self, **changes) -> dict:
        """The edit form of the orchestrator slice as the page fills it, with `changes`."""
        return {**SliceRecordForm.initial_from_record(self.orchestrator), **changes}

    def wire_body(self, **changes) -> dict:
        """The orchestrator slice as an API client sends it whole, with `changes`."""
        return {k: v for k, v in self.orchestrator.items() if k in ORCHESTRATOR_SLICE.wire_names} | changes
