"""The identity provider's settings: off unless configured, a half or unusable configuration stops the start with
a message, the sign-out form may land on the provider (CSP), and production's deploy checks still pass with it."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import ROOT
from tests.core.test_production import production_env, settings_under

CONFIGURED = {
    "OIDC_ISSUER": "https://sso.example.com/realms/acme/",
    "OIDC_CLIENT_ID": "slices-console",
    "OIDC_CLIENT_SECRET": "s3cr3t-from-the-provider",
    "OIDC_OPERATOR_GROUPS": "ops, ops-oncall",
}


@pytest.fixture
def settings_with(monkeypatch):
    """The settings module's values under these variables (and no other OIDC_ or PASSWORD_ one), its sign-in part
    read afresh too."""
    for name in [k for k in os.environ if k.startswith(("OIDC_", "PASSWORD_SIGN_IN"))]:
        monkeypatch.delenv(name)

    def read(**env):
        monkeypatch.delitem(sys.modules, "slices_admin.sign_in_settings", raising=False)
        return settings_under(monkeypatch, env)

    return read


def test_without_an_issuer_sign_in_with_a_provider_is_off_and_passwords_are_for_everyone(settings_with):
    values = settings_with()
    assert values["OIDC_ENABLED"] is False and values["PASSWORD_SIGN_IN"] == "all"
    assert values["SECURE_CSP"]["form-action"] == ["'self'"]


def test_a_configured_provider_is_on_with_its_groups_and_the_sign_out_origin_allowed(settings_with):
    values = settings_with(**CONFIGURED, OIDC_END_SESSION_ENDPOINT="https://logout.example.net/end?x=1")
    assert values["OIDC_ENABLED"] is True and values["OIDC_ISSUER"] == "https://sso.example.com/realms/acme"
    assert values["OIDC_ROLE_GROUPS"] == {"viewer": [], "operator": ["ops", "ops-oncall"], "admin": []}
    assert values["OIDC_OP_TOKEN_ENDPOINT"] is None  # discovered
    assert values["OIDC_TOKEN_USE_BASIC_AUTH"] is True and values["OIDC_USE_PKCE"] is True
    assert values["SECURE_CSP"]["form-action"] == ["'self'", "https://logout.example.net", "https://sso.example.com"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_ISSUER": "https://sso.example.com"}, "both OIDC_ISSUER and OIDC_CLIENT_ID"),
        ({"OIDC_CLIENT_ID": "console"}, "both OIDC_ISSUER and OIDC_CLIENT_ID"),
        ({**CONFIGURED, "OIDC_ISSUER": "sso.example.com/realms/acme"}, "the provider's issuer URL"),
        ({**CONFIGURED, "OIDC_OPERATOR_GROUPS": ""}, "no group maps to a role"),
        ({**CONFIGURED, "OIDC_AUTHORIZATION_ENDPOINT": "https://sso.example.com/auth"}, "OIDC_TOKEN_ENDPOINT"),
        ({**CONFIGURED, "OIDC_TOKEN_AUTH_METHOD": "private_key_jwt"}, "client_secret_basic or client_secret_post"),
        ({"PASSWORD_SIGN_IN": "admins"}, "PASSWORD_SIGN_IN is all or listed"),
        ({"PASSWORD_SIGN_IN": "listed"}, "nobody could sign in"),
    ],
)
def test_a_configuration_nobody_could_sign_in_with_stops_the_start(settings_with, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        settings_with(**env)


def test_passwords_may_be_kept_for_listed_accounts_alone(settings_with):
    values = settings_with(**CONFIGURED, PASSWORD_SIGN_IN="listed", PASSWORD_SIGN_IN_USERS="root, break-glass")
    assert (values["PASSWORD_SIGN_IN"], values["PASSWORD_SIGN_IN_USERS"]) == ("listed", ["root", "break-glass"])


def test_the_deploy_checks_find_nothing_in_production_with_a_provider():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(**CONFIGURED, PASSWORD_SIGN_IN="listed", PASSWORD_SIGN_IN_USERS="root"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues (0 silenced)" in done.stdout and "s3cr3t" not in done.stdout + done.stderr


def test_the_client_secret_is_blanked_from_any_log_line(settings):
    from slices_admin.core.logs import REDACTED, redact_text

    settings.OIDC_RP_CLIENT_SECRET = "OnnTUevdEuZGoazwPX96lQ"
    assert redact_text("token request failed for client x with OnnTUevdEuZGoazwPX96lQ") == (
        f"token request failed for client x with {REDACTED}"
    )
