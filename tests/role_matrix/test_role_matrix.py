"""Who may change what: every URL pattern of the project, for every role and every mutating method.

`MATRIX` classifies each pattern (by name, or by route when it has none) by what a change through it needs. A
role without that is refused the way its area refuses (the login page for anonymous visitors of the pages, 401/403
in the API, the admin's own login page for non-staff in the admin, 403 otherwise), and then nothing reached Kodexa
and nothing changed in the database (only the security event of a 403 is added to the audit log). A role with it
sends the same request and is not refused. A pattern the table does not list fails
`test_every_url_pattern_is_classified`: a new endpoint must be placed here.
"""

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from slices_admin.audit.models import AuditEntry
from slices_admin.tokens.models import APIToken
from tests.factories import api_token
from tests.role_matrix.rules import MATRIX, Rule
from tests.role_matrix.world import ADMIN, ANONYMOUS, METHODS, RANK, ROLERANK, ROLES, World

pytestmark = pytest.mark.django_db


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
            client.credentials(**({"HTTP_AUTHORIZATION": f"Token {api_token(actor)}"} if actor else {}))
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
    (a 403 is one), the contents of sessions (the idle timeout notes activity there), the API's rate counts
    (every request counts, refused or not) and when an API token was last used (it signed the request in before the
    role was checked). Plain SQL: the ORM would take longer to build the queries than the database to answer them."""
    audit, sessions, tokens = AuditEntry._meta.db_table, Session._meta.db_table, APIToken._meta.db_table
    token_columns = ", ".join(f.column for f in APIToken._meta.concrete_fields if f.name != "last_used_at")
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
            elif table == tokens:
                cursor.execute(f"SELECT {token_columns} FROM {quoted}")  # noqa: S608
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
    if takes_it and ROLERANK[role] >= RANK[rule.needs]:
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
