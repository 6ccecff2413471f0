"""Who may change what: every URL pattern of the project, for every role and every mutating method.

`MATRIX` classifies each pattern (by name, or by route when it has none) by what a change through it needs. A
role without that is refused the way its area refuses (the login page for anonymous visitors of the pages, 401/403
in the API, the admin's own login page for non-staff in the admin, 403 otherwise), and then nothing reached Kodexa
and nothing changed in the database (only the security event of a 403 is added to the audit log). A role with it
sends the same request and is not refused. A pattern the table does not list fails
`test_every_url_pattern_is_classified`: a new endpoint must be placed here.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from slices_admin.audit.models import AuditEntry
from slices_admin.bulk.models import BulkEditItem, BulkEditJob
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE
from slices_admin.slices.cache import cache_records
from slices_admin.slices.forms import SliceRecordForm
from slices_admin.slices.models import SavedView, SyncRun
from tests.factories import cache_orchestrator, execution_record

pytestmark = pytest.mark.django_db

ANONYMOUS, VIEWER, OPERATOR, ADMIN = "anonymous", "viewer", "operator", "admin"
ROLES = (ANONYMOUS, VIEWER, OPERATOR, ADMIN)
METHODS = ("POST", "PUT", "PATCH", "DELETE")

# What a change through a pattern needs, weakest first. READ_ONLY: the pattern changes nothing, whatever the method
# and whoever asks; NOBODY: it takes changes, but refuses them to everyone (the read-only admin models).
READ_ONLY, PUBLIC, SIGNED_IN, VIEWER_ROLE, OPERATOR_ROLE, ADMIN_ROLE, NOBODY = (
    "read-only", "public", "signed-in", "viewer", "operator", "admin", "nobody",
)  # fmt: skip
_RANK = {PUBLIC: 0, SIGNED_IN: 1, VIEWER_ROLE: 1, OPERATOR_ROLE: 2, ADMIN_ROLE: 3, NOBODY: 99}
_ROLE_RANK = {ANONYMOUS: 0, VIEWER: 1, OPERATOR: 2, ADMIN: 3}

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
    def token(self) -> Token:
        """The owner's API token (the token admin names a token by its user's id)."""
        return Token.objects.create(user=self.owner)

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
    "login": Rule(PUBLIC, methods=("POST", "PUT"), attempt=_sign_in, proves=False, others=(302, 405)),
    "logout": Rule(SIGNED_IN),
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
    # --- the admin: users, groups and API tokens (admins change them) -----------------------------------------------
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
    "admin:authtoken_tokenproxy_changelist": admin_read_only(attempt=lambda w: delete_selected(w.token.user_id)),
    "admin:authtoken_tokenproxy_add": admin_change(ADMIN_ROLE, attempt=lambda w: {"user": w.bystander.pk}),
    "admin:authtoken_tokenproxy_history": admin_read_only(lambda w: [w.token.user_id]),
    "admin:authtoken_tokenproxy_delete": admin_change(
        ADMIN_ROLE, lambda w: [w.token.user_id], attempt=lambda w: CONFIRM
    ),
    "admin:authtoken_tokenproxy_change": admin_change(
        ADMIN_ROLE, lambda w: [w.token.user_id], attempt=lambda w: {"user": w.bystander.pk}
    ),
    "admin/authtoken/tokenproxy/<path:object_id>/": admin_read_only(
        path=lambda w: reverse("admin:authtoken_tokenproxy_change", args=[w.token.user_id]).removesuffix("change/")
    ),
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


# --- the URL patterns as the resolver has them ----------------------------------------------------------------------
def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """(key, route) of every pattern: `namespace:name`, or the full route of an unnamed one."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}".strip(":") if pattern.namespace else namespace
            yield from url_patterns(pattern, route, inner)
        elif isinstance(pattern, URLPattern):
            yield (f"{namespace}:{pattern.name}".strip(":") if pattern.name else route), route


PATTERNS = dict(url_patterns())


def area_of(route: str) -> str:
    return "api" if route.startswith("api/") else "admin" if route.startswith("admin/") else "pages"


def test_every_url_pattern_is_classified():
    unclassified = sorted(set(PATTERNS) - set(MATRIX))
    assert not unclassified, f"Add these URL patterns to MATRIX with what a change through them needs: {unclassified}"


def test_the_matrix_names_only_patterns_that_exist():
    gone = sorted(set(MATRIX) - set(PATTERNS))
    assert not gone, f"MATRIX names URL patterns that no longer exist: {gone}"


# --- the matrix ------------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Hundreds of users: hashing their passwords properly would be most of the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def shared_clients() -> dict[str, Client]:
    """One page client and one API client for the whole matrix: a new client loads the middleware again, and
    WhiteNoise's reads every static file when it does."""
    return {"pages": Client(), "api": APIClient()}


@pytest.fixture
def client_for(shared_clients):
    """The shared client of an area, signed in as `actor` (None: anonymous)."""

    def signed_in(area: str, actor):
        client = shared_clients["api" if area == "api" else "pages"]
        client.cookies.clear()
        if area == "api":
            client.credentials(
                **({"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=actor).key}"} if actor else {})
            )
        elif actor is not None:
            client.force_login(actor)
        return client

    return signed_in


@pytest.fixture(scope="module")
def _sandbox_without_faults(sandbox):
    sandbox.clear_faults()


@pytest.fixture
def kodexa(sandbox, _sandbox_without_faults, settings):
    """The console pointed at the sandbox process, as the shared `kodexa` fixture does it, but with faults cleared
    once for the module rather than twice a case (nothing here sets any): two fewer round trips in each of the
    matrix's cases."""
    settings.KODEXA_BASE_URL = sandbox.url
    settings.KODEXA_API_KEY = sandbox.api_key
    settings.KODEXA_SANDBOX = True
    settings.KODEXA_READ_TIMEOUT = 2
    settings.KODEXA_MAX_RETRY_WAIT = 1
    return sandbox


@pytest.fixture(scope="session")
def remote_record(sandbox) -> dict:
    """An orchestrator slice on the sandbox (with a UUID id, which the API's route asks for)."""
    return sandbox.new_orchestrator_slice(status="FAILED")


def local_state() -> dict[str, list[str]]:
    """Every row of every table, but for what a refused request may add: the security events of the audit log
    (a 403 is one), the contents of sessions (the idle timeout notes activity there) and the API's rate counts
    (every request counts, refused or not). Plain SQL: the ORM would take longer to build the queries than the
    database to answer them."""
    audit, sessions = AuditEntry._meta.db_table, Session._meta.db_table
    security = list(AuditEntry.SECURITY_ACTIONS)
    state = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table == settings.CACHES["throttle"]["LOCATION"]:
                continue
            quoted = connection.ops.quote_name(table)
            if table == audit:
                marks = ", ".join(["%s"] * len(security))
                cursor.execute(f"SELECT * FROM {quoted} WHERE action NOT IN ({marks})", security)  # noqa: S608
            elif table == sessions:
                cursor.execute(f"SELECT session_key FROM {quoted}")  # noqa: S608
            else:
                cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608
            state[table] = sorted(map(repr, cursor.fetchall()))
    return state


def send(client, area: str, method: str, path: str, data: dict):
    if area == "api":
        return client.generic(method, path, json.dumps(data), content_type="application/json")
    if method == "POST":
        return client.post(path, data)
    return client.generic(method, path, urlencode(data, doseq=True), content_type="application/x-www-form-urlencoded")


def redirect_target(response) -> tuple[str, str | None]:
    """(path, next) of a redirect."""
    location = urlsplit(response["Location"])
    return location.path, parse_qs(location.query).get("next", [None])[0]


# The admin's site-wide pages (the others are its model pages).
ADMIN_SITE_PAGES = {
    "admin:index", "admin:logout", "admin:password_change", "admin:password_change_done", "admin:autocomplete",
    "admin:jsi18n", "admin:view_on_site", "admin:app_list", "admin/(?P<url>.*)$",
}  # fmt: skip


def assert_refused(response, area: str, role: str, key: str, path: str) -> None:
    """Refused exactly as the area refuses this role."""
    if area == "api":
        if role == ANONYMOUS:
            assert (response.status_code, response.get("WWW-Authenticate")) == (401, "Token")
        else:
            assert response.status_code == 403
    elif area == "admin" and role != ADMIN:
        assert response.status_code == 302
        if role != ANONYMOUS:
            # Signed in without staff status: the admin's login page says so; its logout sends to its index.
            wanted = (reverse("admin:index"), None) if key == "admin:logout" else (reverse("admin:login"), path)
        else:
            # Anonymous: the site's own pages name the admin's login page; its model pages leave the choice to
            # LoginRequiredMiddleware, which sends to the console's.
            wanted = (reverse("admin:login") if key in ADMIN_SITE_PAGES else reverse("login"), path)
        assert redirect_target(response) == wanted
    elif role == ANONYMOUS:
        assert response.status_code == 302
        assert redirect_target(response) == (reverse("login"), path)
    else:
        assert response.status_code == 403


def assert_not_refused(response, path: str) -> None:
    assert response.status_code not in (401, 403) and response.status_code < 500, response.status_code
    if response.status_code in (301, 302):  # signing out lands on the login page, but not as a way back here
        assert redirect_target(response) not in ((reverse("login"), path), (reverse("admin:login"), path))


def gated(rule: Rule, area: str, role: str) -> bool:
    """Whether the area turns this role away before the view looks at the request."""
    if rule.public:
        return False
    return role == ANONYMOUS or (area == "admin" and role != ADMIN)


CASES = [
    pytest.param(key, role, method, id=f"{key}-{role}-{method}")
    for key in PATTERNS
    if key in MATRIX
    for role in ROLES
    for method in METHODS
]


@pytest.mark.parametrize(("key", "role", "method"), CASES)
def test_role_matrix(key, role, method, kodexa, remote_record, make_user, client_for):
    rule, area = MATRIX[key], area_of(PATTERNS[key])
    actor = make_user(role) if role != ANONYMOUS else None
    world = World(actor, make_user, remote_record)
    path = rule.path(world) if rule.path else reverse(key, args=rule.args(world) if rule.args else None)
    data = rule.attempt(world)
    client = client_for(area, actor)
    before, sent_before = local_state(), kodexa.request_count()
    denied_before = AuditEntry.objects.filter(action=AuditEntry.Action.PERMISSION_DENIED).count()

    response = send(client, area, method, path, data)

    takes_it = method in rule.methods and not gated(rule, area, role)
    if takes_it and _ROLE_RANK[role] >= _RANK[rule.needs]:
        assert_not_refused(response, path)
        if rule.proves:
            changed = local_state() != before or kodexa.request_count() > sent_before
            assert changed, "the request a permitted role sends must change something, or the matrix proves nothing"
        return
    assert kodexa.request_count() == sent_before, "a refused request reached Kodexa"
    assert local_state() == before, "a refused request changed the database"
    if gated(rule, area, role) or method in rule.methods:
        assert_refused(response, area, role, key, path)
    elif rule.others is not None:
        assert response.status_code in rule.others
    else:
        assert response.status_code < 500
    if response.status_code == 403:
        denied = AuditEntry.objects.filter(action=AuditEntry.Action.PERMISSION_DENIED).count()
        assert denied == denied_before + 1, "a 403 is audited as a security event"
