"""Structured logs: one JSON object per line, an access line per request, the request id and user on every line
logged meanwhile, and no secret in any line."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

from slices_admin.core.logs import JsonLineFormatter, PlainFormatter, redact_text
from tests.conftest import ROOT

logger = logging.getLogger("tests.core.views")


def chatty_view(request):
    logger.info("working on %s", "something")
    return HttpResponse("ok")


@login_not_required
def failing_view(request):
    raise RuntimeError(f"Kodexa refused the key {settings.KODEXA_API_KEY}")


urlpatterns = [
    path("test/chatty/", chatty_view),
    path("test/failing/", failing_view),
    path("", include("slices_admin.urls")),
]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def log_output():
    """What the console handler writes, as JSON, through its real filters (whatever LOG_FORMAT the run has)."""
    handler = logging.getHandlerByName("console")
    stream, formatter = io.StringIO(), handler.formatter
    previous = handler.setStream(stream)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)

    def text() -> str:
        return stream.getvalue()

    def lines() -> list[dict]:
        return [json.loads(line) for line in text().splitlines()]  # every line parses on its own

    text.lines = lines
    yield text
    root.setLevel(level)
    handler.setFormatter(formatter)
    handler.setStream(previous)


def access_lines(output) -> list[dict]:
    return [line for line in output.lines() if line["logger"] == "slices_admin.access"]


def test_a_request_writes_one_json_access_line_with_its_fields(client, log_output):
    response = client.get("/healthz?token=abc123&x=1", HTTP_X_REQUEST_ID="req-1234567890")
    assert response.status_code == 200
    [line] = access_lines(log_output)
    assert line["request_id"] == response["X-Request-ID"] != "req-1234567890"  # the console's, not the client's
    assert line["client_request_id"] == "req-1234567890"  # kept beside it, for a script to find its requests
    assert (line["method"], line["path"], line["status"], line["user"]) == ("GET", "/healthz", 200, None)
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")
    assert "abc123" not in log_output()  # no query string


@pytest.mark.django_db
def test_the_access_line_names_the_signed_in_user(client, make_user, log_output):
    client.force_login(make_user("viewer", "vera"))
    client.get("/healthz")
    assert access_lines(log_output)[-1]["user"] == "vera"


def test_answers_of_other_middleware_are_logged_too(client, log_output):
    client.get("/static/does-not-exist.css")  # answered by Django's static handling or WhiteNoise, not a view
    client.get("/login")  # CommonMiddleware's redirect to /login/
    assert [(line["path"], line["status"]) for line in access_lines(log_output)] == [
        ("/static/does-not-exist.css", 404),
        ("/login", 301),
    ]


@pytest.mark.django_db
def test_a_line_logged_inside_a_view_carries_the_request_id_and_user(client, make_user, log_output):
    client.force_login(make_user("viewer", "vera"))
    response = client.get("/test/chatty/")
    [line] = [line for line in log_output.lines() if line["logger"] == "tests.core.views"]
    assert line["message"] == "working on something"
    assert (line["request_id"], line["user"]) == (response["X-Request-ID"], "vera")


def test_lines_outside_a_request_have_no_request_fields(log_output):
    logger.info("between requests")
    [line] = log_output.lines()
    assert "request_id" not in line and "user" not in line


def test_the_api_key_never_appears_even_in_an_exception(log_output, settings):
    settings.KODEXA_API_KEY = "kx-live-0123456789abcdef"
    response = Client(raise_request_exception=False).get("/test/failing/")
    assert response.status_code == 500
    logger.warning("calling Kodexa with %s", settings.KODEXA_API_KEY, extra={"api_key": settings.KODEXA_API_KEY})
    output = log_output()
    assert "kx-live-0123456789abcdef" not in output
    assert "Kodexa refused the key [redacted]" in output  # the traceback is kept, redacted
    assert access_lines(log_output)[-1]["status"] == 500


def test_the_audit_checkpoint_key_never_appears_in_a_line(log_output, settings):
    settings.AUDIT_CHECKPOINT_KEY = "cp-" + "Zq4" * 12
    logger.warning("checkpoint signed under %s", settings.AUDIT_CHECKPOINT_KEY)
    output = log_output()
    assert settings.AUDIT_CHECKPOINT_KEY not in output and "checkpoint signed under [redacted]" in output


@pytest.mark.django_db
def test_passwords_posted_to_the_login_page_never_appear(client, make_user, log_output):
    make_user("viewer", "paula")
    for password in ("Tr0ub4dor&3-wrong", "x" * 12):
        client.post("/login/?next=/", {"username": "paula", "password": password})
    output = log_output()
    assert "Tr0ub4dor" not in output and "x" * 12 not in output
    assert [line["status"] for line in access_lines(log_output)] == [200, 302]


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("password=hunter2&next=/", "hunter2"),
        ("{'password': 'hunter2'}", "hunter2"),
        ('{"apiKey": "k-123"}', "k-123"),
        ("x-api-key: k-123", "k-123"),
        ("Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig-abcdef", "eyJhbGciOiJIUzI1NiJ9"),
        ("postgres://console:s3cret@db:5432/console", "s3cret"),
        ("client_secret=abc&grant=x", "abc"),
        ("script used slc_0123456789_" + "ab" * 32 + " twice", "ab" * 32),
    ],
)
def test_obvious_secrets_are_redacted(text, hidden):
    assert hidden not in redact_text(text) and "[redacted]" in redact_text(text)


@pytest.mark.parametrize("text", ["maxTokens: 5", "tokenizer=bpe", "Wrong username or password, or inactive"])
def test_ordinary_words_are_left_alone(text):
    assert redact_text(text) == text


def test_the_plain_format_shows_the_request_id_and_user_when_there_are_some():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert PlainFormatter().format(record).endswith(" x hello")
    record.request_id, record.user = "req-abcdef12", "vera"
    assert PlainFormatter().format(record).endswith(" x hello [req-abcdef12 vera]")


@pytest.mark.parametrize(("log_format", "is_json"), [(None, True), ("plain", False)])
def test_the_configured_format_is_json_unless_plain_is_asked_for(log_format, is_json):
    env = {key: value for key, value in os.environ.items() if key not in ("LOG_FORMAT", "LOG_LEVEL")}
    if log_format:
        env["LOG_FORMAT"] = log_format
    command = [sys.executable, "manage.py", "shell", "-c", "import logging; logging.getLogger('probe').warning('hi')"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    [line] = [line for line in result.stderr.splitlines() if "probe" in line]
    if is_json:
        assert json.loads(line)["message"] == "hi"
    else:
        assert line.endswith("WARNING probe hi")


def test_redaction_stays_linear_on_a_long_hostile_path():
    """A visitor's URL path is logged: dash-joined words must not make the redaction backtrack for minutes."""
    from slices_admin.core.logs import redact_text

    hostile = "/" + "a-" * 10_000 + "password=hunter2"
    redacted = redact_text(hostile)
    assert "hunter2" not in redacted and redacted.startswith("/a-a-")
    assert redact_text("x" * 100_000).endswith("…[truncated]")


@pytest.mark.django_db
def test_a_client_cannot_choose_the_request_id_its_audit_entries_carry(client, make_user, log_output):
    """Otherwise a user could make their entries share another request's id."""
    client.force_login(make_user("viewer", "vera"))
    client.post("/logout/", HTTP_X_REQUEST_ID="someone-elses-request")
    from slices_admin.audit.models import AuditEntry

    entry = AuditEntry.objects.get(action=AuditEntry.Action.LOGOUT)
    assert entry.request_id and entry.request_id != "someone-elses-request"


def test_behind_trusted_proxies_the_proxys_request_id_is_the_id(client, settings, log_output):
    settings.TRUSTED_PROXY_COUNT = 1
    response = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-0123456789", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response["X-Request-ID"] == "proxy-0123456789"
    assert access_lines(log_output)[-1]["request_id"] == "proxy-0123456789"


def test_a_malformed_request_id_is_never_taken(client, settings, log_output):
    settings.TRUSTED_PROXY_COUNT = 1
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith a line break")
    assert len(response["X-Request-ID"]) == 32 and access_lines(log_output)[-1]["client_request_id"] is None


def disallowed_lines(output) -> list[dict]:
    return [line for line in output.lines() if line["logger"] == "django.security.DisallowedHost"]


def test_a_foreign_host_is_logged_once_per_host_at_warning_without_a_traceback(log_output):
    from slices_admin.core.logs import DisallowedHostOnce

    once = next(
        f for f in logging.getLogger("django.security.DisallowedHost").filters if isinstance(f, DisallowedHostOnce)
    )
    once.logged.clear()
    for host in ["scanner.example", "scanner.example", "scanner.example", "other.example"]:
        assert Client(HTTP_HOST=host).get("/healthz").status_code == 400
    lines = disallowed_lines(log_output)
    assert [line["level"] for line in lines] == ["WARNING", "WARNING"]
    assert "scanner.example" in lines[0]["message"] and "other.example" in lines[1]["message"]
    assert not any("exc_info" in line or "Traceback" in json.dumps(line) for line in lines)
    assert len(access_lines(log_output)) == 4  # every refusal is still in the access log


def test_with_log_file_set_the_lines_go_to_that_file_and_not_to_stderr(tmp_path):
    log_file = tmp_path / "console.log"
    env = {**os.environ, "LOG_FILE": str(log_file), "DJANGO_SETTINGS_MODULE": "slices_admin.settings"}
    code = "import django, logging; django.setup(); logging.getLogger('slices_admin.access').info('GET /x 200')"
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert child.stderr == ""
    assert json.loads(log_file.read_text().splitlines()[-1])["message"] == "GET /x 200"


def test_the_benchmarks_send_the_consoles_log_lines_to_a_file_they_name(tmp_path):
    """`make bench` shows progress and figures; the access log of its thousands of requests goes to var/bench.log."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_FILE", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    marker = f"bench-line-{os.getpid()}"
    code = (
        "import logging, pathlib; from bench import LOG, setup_django; "
        f"setup_django(pathlib.Path({str(tmp_path / 'bench.sqlite3')!r})); "
        f"logging.getLogger('slices_admin.access').info({marker!r}); print(LOG)"
    )
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert child.stderr == ""
    log = child.stdout.strip()
    assert log.endswith("var/bench.log") and marker in Path(log).read_text(encoding="utf-8")
