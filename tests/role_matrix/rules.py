"""`MATRIX`: how each URL pattern of the project treats changes, by what a change through it needs."""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from tests.role_matrix.world import (
    ADMIN_ROLE,
    NEW_PASSWORD,
    NOBODY,
    OPERATOR_ROLE,
    PASSWORD,
    PUBLIC,
    READ_ONLY,
    SIGNED_IN,
    VIEWER_ROLE,
    World,
)


@dataclass(frozen=True)
class Rule:
    """How a pattern treats changes. `methods`: the mutating methods it takes; the others must be refused or
    change nothing. `attempt`: a request that changes something when the role may (`proves`: and that is checked),
    sent by every role. `others`: the statuses allowed for a method it does not take (None: any answer that changes
    nothing and is no server error). `public`: no sign-in is asked first."""

    needs: str
    args: Callable[["World"], list] | None = None
    path: Callable[["World"], str] | None = None
    methods: tuple[str, ...] = ("POST",)
    attempt: Callable[["World"], dict] = lambda w: {}
    proves: bool = True
    others: tuple[int, ...] | None = (403, 405)
    public: bool = False

    def __post_init__(self):
        if self.needs == READ_ONLY:
            object.__setattr__(self, "methods", ())
        if self.needs == PUBLIC:
            object.__setattr__(self, "public", True)


def read_only(args=None, *, path=None, public=False, others=(403, 405), attempt=lambda w: {"status": "PENDING"}):
    return Rule(READ_ONLY, args=args, path=path, public=public, others=others, attempt=attempt)


def admin_read_only(args=None, *, path=None, attempt=lambda w: {}):
    """An admin page that changes nothing whatever it is sent (the admin answers other methods as it answers GET)."""
    return Rule(READ_ONLY, args=args, path=path, others=None, attempt=attempt)


def admin_change(needs, args=None, *, attempt):
    """An admin page that takes POSTed changes (the admin answers other methods as it answers GET)."""
    return Rule(needs, args=args, attempt=attempt, others=None)


def delete_selected(pk) -> dict:
    return {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}


CONFIRM = {"post": "yes"}
JOB_REQUEST = {"targetStatus": "CANCELLED", "reason": "role matrix"}


def _bulk_form(w: World) -> dict:
    return {
        "scope": "ids", "ids": [w.orchestrator["id"]], "target_status": "CANCELLED", "error_mode": "keep",
        "reason": "role matrix", "step": "run",
    }  # fmt: skip


def _user_form(w: World) -> dict:
    """The user admin's change form for the bystander, made a superuser."""
    return {
        "username": w.bystander.username, "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "date_joined_0": "2026-01-01", "date_joined_1": "12:00:00",
    }  # fmt: skip


def _new_user(w: World) -> dict:
    return {"username": "mallory", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}


def _sign_in(w: World) -> dict:
    return {"username": "nobody-here", "password": "not-the-password"}


def _admin_object(name: str, attr: str) -> Callable[[World], str]:
    """The unnamed admin route `<model>/<object_id>/`, which redirects to the change page."""
    return lambda w: reverse(f"admin:{name}_change", args=[getattr(w, attr).pk]).removesuffix("change/")


# fmt: off
MATRIX: dict[str, Rule] = {
    # --- the console's own pages ------------------------------------------------------------------------------------
    "home": read_only(),
    "healthz": read_only(public=True, others=(405,)),
    "readyz": read_only(public=True, others=(405,)),
    # Prometheus's, behind its own guard (a bearer token or an address list, see `metrics.views`), not a session: off
    # here, so every method gets the 404 an unconfigured console gives (405 once configured).
    "metrics": read_only(public=True, others=(404, 405)),
    "login": Rule(PUBLIC, methods=("POST", "PUT"), attempt=_sign_in, proves=False, others=(302, 405)),
    "logout": Rule(SIGNED_IN),
    # The identity provider's two URLs: GET only, for anyone (and 404 while no provider is configured).
    "oidc:authenticate": read_only(public=True, others=(405,)),
    "oidc:callback": read_only(public=True, others=(405,)),
    "slices:dashboard": read_only(),
    "slices:execution-create": Rule(OPERATOR_ROLE, attempt=lambda w: {"status": "PENDING"}),
    "slices:saved-view-delete": Rule(VIEWER_ROLE, args=lambda w: [w.saved_view.pk]),
    "slices:sync-progress": read_only(lambda w: [w.sync_run.pk]),
    "slices:list": read_only(lambda w: ["orchestrator"]),
    "slices:export": read_only(lambda w: ["orchestrator"]),
    "slices:saved-view-create": Rule(
        VIEWER_ROLE, args=lambda w: ["orchestrator"], attempt=lambda w: {"name": "Mine", "query": "status=FAILED"}
    ),
    "slices:sync-start": Rule(OPERATOR_ROLE, args=lambda w: ["orchestrator"], attempt=lambda w: {"mode": "full"}),
    "slices:orchestrator-edit": Rule(
        OPERATOR_ROLE, args=lambda w: [w.orchestrator["id"]], attempt=lambda w: w.edit_form(status="CANCELLED")
    ),
    "slices:refresh": Rule(VIEWER_ROLE, args=lambda w: ["orchestrator", w.orchestrator["id"]]),
    "slices:history": read_only(lambda w: ["orchestrator", w.orchestrator["id"]]),
    "slices:detail": read_only(lambda w: ["orchestrator", w.orchestrator["id"]]),
    "audit:list": read_only(),
    "audit:export": read_only(lambda w: ["csv"]),
    "audit:detail": read_only(lambda w: [w.audit_entry.pk]),
    "bulk:list": read_only(),
    "bulk:new": Rule(OPERATOR_ROLE, attempt=_bulk_form),
    "bulk:detail": read_only(lambda w: [w.open_job.pk]),
    "bulk:progress": read_only(lambda w: [w.open_job.pk]),
    "bulk:cancel": Rule(OPERATOR_ROLE, args=lambda w: [w.open_job.pk]),
    "bulk:follow-up": Rule(OPERATOR_ROLE, args=lambda w: [w.failed_job.pk, "retry"]),
    "bulk:undo": Rule(OPERATOR_ROLE, args=lambda w: [w.succeeded_job.pk], attempt=lambda w: {"reason": "matrix"}),
    "bulk:approve": Rule(OPERATOR_ROLE, args=lambda w: [w.awaiting_job.pk], attempt=lambda w: {"confirm_count": "1"}),
    "bulk:reject": Rule(OPERATOR_ROLE, args=lambda w: [w.awaiting_job.pk], attempt=lambda w: {"reason": "matrix"}),
    # Only the requester may withdraw, and the matrix's requester is another user: refused for every role.
    "bulk:withdraw": Rule(OPERATOR_ROLE, args=lambda w: [w.awaiting_job.pk], proves=False),
    "bulk:pause": Rule(OPERATOR_ROLE, args=lambda w: [w.open_job.pk]),
    "bulk:resume": Rule(OPERATOR_ROLE, args=lambda w: [w.paused_job.pk]),
    "bulk:rate": Rule(OPERATOR_ROLE, args=lambda w: [w.open_job.pk], attempt=lambda w: {"max_rate": "5"}),
    "bulk:start-now": Rule(OPERATOR_ROLE, args=lambda w: [w.scheduled_job.pk]),
    "bulk:items-export": read_only(lambda w: [w.failed_job.pk, "csv"]),
    # Each person's own API tokens (any role), and everyone's for admins.
    "tokens:list": Rule(VIEWER_ROLE, attempt=lambda w: {"name": "matrix", "expires_in": "30"}),
    "tokens:revoke": Rule(VIEWER_ROLE, args=lambda w: [w.own_token.pk]),
    "tokens:all": read_only(),
    "tokens:admin-revoke": Rule(ADMIN_ROLE, args=lambda w: [w.token.pk]),
    # --- the JSON API -----------------------------------------------------------------------------------------------
    "api:execution-slice-list": Rule(OPERATOR_ROLE, attempt=lambda w: {"status": "PENDING"}),
    "api:execution-slice-detail": read_only(lambda w: [w.execution["id"]]),
    "api:orchestrator-slice-list": read_only(),
    "api:orchestrator-slice-detail": Rule(
        OPERATOR_ROLE, args=lambda w: [w.orchestrator["id"]], methods=("PUT", "PATCH"),
        attempt=lambda w: w.wire_body(status="CANCELLED"),
    ),
    "api:audit-list": read_only(),
    "api:bulk-edit-list": Rule(OPERATOR_ROLE, attempt=lambda w: {"ids": [w.orchestrator["id"]], **JOB_REQUEST}),
    "api:bulk-edit-detail": read_only(lambda w: [w.open_job.pk]),
    "api:bulk-edit-items": read_only(lambda w: [w.open_job.pk]),
    "api:bulk-edit-cancel": Rule(OPERATOR_ROLE, args=lambda w: [w.open_job.pk]),
    "api:bulk-edit-undo": Rule(OPERATOR_ROLE, args=lambda w: [w.succeeded_job.pk], attempt=lambda w: {"reason": "m"}),
    "api:bulk-edit-approve": Rule(
        OPERATOR_ROLE, args=lambda w: [w.awaiting_job.pk], attempt=lambda w: {"confirmCount": 1}
    ),
    "api:bulk-edit-reject": Rule(OPERATOR_ROLE, args=lambda w: [w.awaiting_job.pk], attempt=lambda w: {"reason": "m"}),
    "api:bulk-edit-withdraw": Rule(OPERATOR_ROLE, args=lambda w: [w.awaiting_job.pk], proves=False),
    "api:bulk-edit-pause": Rule(OPERATOR_ROLE, args=lambda w: [w.open_job.pk]),
    "api:bulk-edit-resume": Rule(OPERATOR_ROLE, args=lambda w: [w.paused_job.pk]),
    "api:bulk-edit-rate": Rule(OPERATOR_ROLE, args=lambda w: [w.open_job.pk], attempt=lambda w: {"maxRate": 5}),
    "api:bulk-edit-start": Rule(OPERATOR_ROLE, args=lambda w: [w.scheduled_job.pk]),
    "api:schema": read_only(),
    "api:not-found": read_only(path=lambda w: "/api/v1/no-such-endpoint/", public=True, others=(404,)),
    # --- the Django admin: the site ---------------------------------------------------------------------------------
    "admin:index": admin_read_only(),
    "admin:login": Rule(PUBLIC, methods=("POST", "PUT"), attempt=_sign_in, proves=False, others=None),
    "admin:logout": admin_change(ADMIN_ROLE, attempt=lambda w: {}),
    "admin:password_change": admin_change(ADMIN_ROLE, attempt=lambda w: {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD,
    }),
    "admin:password_change_done": admin_read_only(),
    "admin:autocomplete": admin_read_only(),
    "admin:jsi18n": admin_read_only(),
    "admin:view_on_site": admin_read_only(lambda w: [ContentType.objects.get_for_model(Group).pk, w.group.pk]),
    "admin:app_list": admin_read_only(lambda w: ["auth"]),
    "admin/(?P<url>.*)$": admin_read_only(path=lambda w: "/admin/no-such-page/"),
    # --- the admin: users and groups (admins change them) -----------------------------------------------------------
    "admin:auth_user_changelist": admin_change(ADMIN_ROLE, attempt=lambda w: delete_selected(w.bystander.pk)),
    "admin:auth_user_add": admin_change(ADMIN_ROLE, attempt=_new_user),
    "admin:auth_user_history": admin_read_only(lambda w: [w.bystander.pk]),
    "admin:auth_user_delete": admin_change(ADMIN_ROLE, lambda w: [w.bystander.pk], attempt=lambda w: CONFIRM),
    "admin:auth_user_change": admin_change(ADMIN_ROLE, lambda w: [w.bystander.pk], attempt=_user_form),
    "admin:auth_user_password_change": admin_change(ADMIN_ROLE, lambda w: [w.bystander.pk], attempt=lambda w: {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true",
    }),
    "admin/auth/user/<path:object_id>/": admin_read_only(path=_admin_object("auth_user", "bystander")),
    "admin:auth_group_changelist": admin_change(ADMIN_ROLE, attempt=lambda w: delete_selected(w.group.pk)),
    "admin:auth_group_add": admin_change(ADMIN_ROLE, attempt=lambda w: {"name": "intruders"}),
    "admin:auth_group_history": admin_read_only(lambda w: [w.group.pk]),
    "admin:auth_group_delete": admin_change(ADMIN_ROLE, lambda w: [w.group.pk], attempt=lambda w: CONFIRM),
    "admin:auth_group_change": admin_change(ADMIN_ROLE, lambda w: [w.group.pk], attempt=lambda w: {"name": "x"}),
    "admin/auth/group/<path:object_id>/": admin_read_only(path=_admin_object("auth_group", "group")),
    # --- the admin: sign-in throttling records (admins clear them to unlock someone) --------------------------------
    "admin:axes_accessattempt_changelist": admin_change(
        ADMIN_ROLE, attempt=lambda w: delete_selected(w.access_attempt.pk)
    ),
    "admin:axes_accessattempt_add": admin_change(NOBODY, attempt=lambda w: {"username": "someone"}),
    "admin:axes_accessattempt_history": admin_read_only(lambda w: [w.access_attempt.pk]),
    "admin:axes_accessattempt_delete": admin_change(
        ADMIN_ROLE, lambda w: [w.access_attempt.pk], attempt=lambda w: CONFIRM
    ),
    "admin:axes_accessattempt_change": admin_change(ADMIN_ROLE, lambda w: [w.access_attempt.pk], attempt=lambda w: {}),
    "admin/axes/accessattempt/<path:object_id>/": admin_read_only(
        path=_admin_object("axes_accessattempt", "access_attempt")
    ),
    "admin:axes_accesslog_changelist": admin_change(ADMIN_ROLE, attempt=lambda w: delete_selected(w.access_log.pk)),
    "admin:axes_accesslog_add": admin_change(NOBODY, attempt=lambda w: {"username": "someone"}),
    "admin:axes_accesslog_history": admin_read_only(lambda w: [w.access_log.pk]),
    "admin:axes_accesslog_delete": admin_change(ADMIN_ROLE, lambda w: [w.access_log.pk], attempt=lambda w: CONFIRM),
    "admin:axes_accesslog_change": admin_change(ADMIN_ROLE, lambda w: [w.access_log.pk], attempt=lambda w: {}),
    "admin/axes/accesslog/<path:object_id>/": admin_read_only(path=_admin_object("axes_accesslog", "access_log")),
    "admin:axes_accessfailurelog_changelist": admin_change(
        ADMIN_ROLE, attempt=lambda w: delete_selected(w.access_failure_log.pk)
    ),
    "admin:axes_accessfailurelog_add": admin_change(NOBODY, attempt=lambda w: {"username": "someone"}),
    "admin:axes_accessfailurelog_history": admin_read_only(lambda w: [w.access_failure_log.pk]),
    "admin:axes_accessfailurelog_delete": admin_change(
        ADMIN_ROLE, lambda w: [w.access_failure_log.pk], attempt=lambda w: CONFIRM
    ),
    "admin:axes_accessfailurelog_change": admin_change(
        ADMIN_ROLE, lambda w: [w.access_failure_log.pk], attempt=lambda w: {}
    ),
    "admin/axes/accessfailurelog/<path:object_id>/": admin_read_only(
        path=_admin_object("axes_accessfailurelog", "access_failure_log")
    ),
    # --- the admin: read-only models (the audit log, the slice cache, background tasks): nobody changes them -------
    "admin:audit_auditentry_changelist": admin_read_only(attempt=lambda w: delete_selected(w.audit_entry.pk)),
    "admin:audit_auditentry_add": admin_change(NOBODY, attempt=lambda w: {"action": "create", "outcome": "denied"}),
    "admin:audit_auditentry_history": admin_read_only(lambda w: [w.audit_entry.pk]),
    "admin:audit_auditentry_delete": admin_change(NOBODY, lambda w: [w.audit_entry.pk], attempt=lambda w: CONFIRM),
    "admin:audit_auditentry_change": admin_change(
        NOBODY, lambda w: [w.audit_entry.pk], attempt=lambda w: {"outcome": "succeeded"}
    ),
    "admin/audit/auditentry/<path:object_id>/": admin_read_only(path=_admin_object("audit_auditentry", "audit_entry")),
    "admin:slices_orchestratorslice_changelist": admin_read_only(
        attempt=lambda w: delete_selected(w.orchestrator["id"])
    ),
    "admin:slices_orchestratorslice_add": admin_change(NOBODY, attempt=lambda w: {"id": "new", "status": "PENDING"}),
    "admin:slices_orchestratorslice_history": admin_read_only(lambda w: [w.orchestrator["id"]]),
    "admin:slices_orchestratorslice_delete": admin_change(
        NOBODY, lambda w: [w.orchestrator["id"]], attempt=lambda w: CONFIRM
    ),
    "admin:slices_orchestratorslice_change": admin_change(
        NOBODY, lambda w: [w.orchestrator["id"]], attempt=lambda w: {"status": "CANCELLED"}
    ),
    "admin/slices/orchestratorslice/<path:object_id>/": admin_read_only(
        path=lambda w: reverse("admin:slices_orchestratorslice_change", args=[w.orchestrator["id"]]).removesuffix(
            "change/"
        )
    ),
    "admin:slices_executionslice_changelist": admin_read_only(attempt=lambda w: delete_selected(w.execution["id"])),
    "admin:slices_executionslice_add": admin_change(NOBODY, attempt=lambda w: {"id": "new", "status": "PENDING"}),
    "admin:slices_executionslice_history": admin_read_only(lambda w: [w.execution["id"]]),
    "admin:slices_executionslice_delete": admin_change(
        NOBODY, lambda w: [w.execution["id"]], attempt=lambda w: CONFIRM
    ),
    "admin:slices_executionslice_change": admin_change(
        NOBODY, lambda w: [w.execution["id"]], attempt=lambda w: {"status": "CANCELLED"}
    ),
    "admin/slices/executionslice/<path:object_id>/": admin_read_only(
        path=lambda w: reverse("admin:slices_executionslice_change", args=[w.execution["id"]]).removesuffix(
            "change/"
        )
    ),
    "admin:django_tasks_database_dbtaskresult_changelist": admin_read_only(
        attempt=lambda w: delete_selected(w.task.pk)
    ),
    "admin:django_tasks_database_dbtaskresult_add": admin_change(NOBODY, attempt=lambda w: {"status": "READY"}),
    "admin:django_tasks_database_dbtaskresult_history": admin_read_only(lambda w: [w.task.pk]),
    "admin:django_tasks_database_dbtaskresult_delete": admin_change(
        NOBODY, lambda w: [w.task.pk], attempt=lambda w: CONFIRM
    ),
    "admin:django_tasks_database_dbtaskresult_change": admin_change(
        NOBODY, lambda w: [w.task.pk], attempt=lambda w: {"status": "SUCCESSFUL"}
    ),
    "admin/django_tasks_database/dbtaskresult/<path:object_id>/": admin_read_only(
        path=_admin_object("django_tasks_database_dbtaskresult", "task")
    ),
}
# fmt: on
