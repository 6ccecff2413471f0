"""Production settings (DJANGO_PRODUCTION=1): Django's deploy checks pass, static files get hashed names, responses
carry HSTS and Secure cookies, and a missing or weak secret key stops the start. Development stays plain http."""

import json
import os
import re
import runpy
import secrets
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.urls import reverse

from tests.conftest import ROOT

SETTINGS_FILE = ROOT / "slices_admin" / "settings.py"
STRONG_KEY = secrets.token_urlsafe(50)

# What production changes or must keep about HTTP: applied to the running test settings to see responses.
HTTP_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "CSRF_TRUSTED_ORIGINS",
    "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CSP",
]


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return {
        **env,
        "DJANGO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_ALLOWED_HOSTS": "console.example.com",
        **extra,
    }


def settings_under(monkeypatch, env: dict[str, str]) -> dict:
    """The settings module's values as it computes them under `env` (read afresh, not the running settings)."""
    for name in [k for k in os.environ if k.startswith("DJANGO_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def http_settings(values: dict) -> dict:
    return {name: values.get(name) for name in HTTP_SETTINGS}


@pytest.fixture
def production(monkeypatch) -> dict:
    env = production_env(DJANGO_PROXY_SSL_HEADER="X-Forwarded-Proto")
    return settings_under(monkeypatch, {k: v for k, v in env.items() if k.startswith("DJANGO_")})


def test_the_deploy_checks_find_nothing_in_production():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNING" not in done.stdout + done.stderr


def test_the_deploy_checks_flag_plain_development_settings():
    """The same check without the production switch fails: the test above is not passing by accident."""
    env = production_env()
    del env["DJANGO_PRODUCTION"]
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout  # no HSTS


def test_collectstatic_in_production_writes_hashed_compressed_files_and_a_manifest(tmp_path):
    root = tmp_path / "static"
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=production_env(DJANGO_STATIC_ROOT=str(root)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["css/app.css"]
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", hashed)
    assert (root / hashed).is_file() and (root / f"{hashed}.gz").is_file()
    assert re.fullmatch(r"vendor/htmx/htmx\.min\.[0-9a-f]{12}\.js", manifest["vendor/htmx/htmx.min.js"])


def test_production_uses_the_manifest_storage_and_development_the_plain_one(monkeypatch):
    production = settings_under(monkeypatch, production_env())
    development = settings_under(monkeypatch, {})
    assert production["STORAGES"]["staticfiles"]["BACKEND"].endswith("CompressedManifestStaticFilesStorage")
    assert production["WHITENOISE_USE_FINDERS"] is False
    assert development["STORAGES"]["staticfiles"]["BACKEND"].endswith(".StaticFilesStorage")


@pytest.mark.parametrize(
    ("key", "why"),
    [(None, "missing"), ("too-short-" + "x" * 20, "short"), ("ab" * 40, "few distinct characters")],
)
def test_production_refuses_a_missing_or_weak_secret_key(monkeypatch, key, why):
    env = {"DJANGO_PRODUCTION": "1"} | ({"DJANGO_SECRET_KEY": key} if key else {})
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        settings_under(monkeypatch, env)


def test_production_refuses_debug(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        settings_under(monkeypatch, {"DJANGO_PRODUCTION": "1", "DJANGO_SECRET_KEY": STRONG_KEY, "DJANGO_DEBUG": "1"})


def test_development_serves_plain_http_as_before(monkeypatch, db):
    development = settings_under(monkeypatch, {})
    assert not development["SECURE_SSL_REDIRECT"] and not development["SECURE_HSTS_SECONDS"]
    assert not development["SESSION_COOKIE_SECURE"] and not development["CSRF_COOKIE_SECURE"]
    with override_settings(**http_settings(development)):
        response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not response.cookies["csrftoken"]["secure"]


def test_production_redirects_plain_http_to_https_except_the_probes(production, db):
    with override_settings(**http_settings(production)):
        client = Client()
        redirected = client.get(reverse("login"))
        probe = client.get(reverse("healthz"))
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
    assert probe.status_code == 200


def test_production_responses_carry_hsts_and_the_other_security_headers(production, db):
    with override_settings(**http_settings(production)):
        response = Client().get(reverse("login"), secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_production_session_and_csrf_cookies_are_secure_httponly_and_same_site(production, django_user_model):
    django_user_model.objects.create_user("operator", password="a-long-password")
    with override_settings(**http_settings(production)):
        client = Client()
        page = client.get(reverse("login"), secure=True)
        signed_in = client.post(reverse("login"), {"username": "operator", "password": "a-long-password"}, secure=True)
    csrf, session = page.cookies["csrftoken"], signed_in.cookies["sessionid"]
    assert signed_in.status_code == 302
    for cookie in (csrf, session):
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_behind_a_tls_proxy_its_forwarded_proto_header_counts_as_https(production, db):
    with override_settings(**http_settings(production)):
        response = Client().get(reverse("login"), headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response


def test_local_serving_keeps_production_but_speaks_plain_http(monkeypatch, db):
    local = settings_under(monkeypatch, production_env(DJANGO_HTTPS="0"))
    assert local["PRODUCTION"] and local["STORAGES"]["staticfiles"]["BACKEND"].endswith("ManifestStaticFilesStorage")
    with override_settings(**http_settings(local)):
        response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not response.cookies["csrftoken"]["secure"] and response.cookies["csrftoken"]["httponly"]


@pytest.mark.django_db
def test_postgresql_sessions_run_without_jit_or_parallel_workers():
    """Short index walks gain nothing from either; a parallel scan would take every core from the pages."""
    from django.db import connection

    if connection.vendor != "postgresql":
        assert "options" not in connection.settings_dict.get("OPTIONS", {})
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')")
        assert cursor.fetchone() == ("off", "0")
