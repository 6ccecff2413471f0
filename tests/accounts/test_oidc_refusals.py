"""Answers from the identity provider the console must not take (a forged or reused state, a code issued for another
nonce, the provider refusing, the provider unreachable or misconfigured), and signing out of it. A real provider
process throughout; nobody is ever signed in by a refused answer, and no secret reaches a page, a log or the audit."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from slices_admin.accounts import provider
from slices_admin.audit import chain
from slices_admin.audit.models import AuditEntry
from tests.identity_provider import (
    PROVIDER_NAME,
    authorize,
    callback,
    choose_identity,
    sign_in_through,
    with_params,
)

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
User = get_user_model()


@pytest.fixture
def idp(identity_provider, oidc):
    oidc()
    return identity_provider


def audit_texts() -> list[str]:
    """Every audit entry as the text its hash covers."""
    return [
        chain.canonical({n: getattr(e, n) for n in chain.CURRENT_FIELDS}, chain.CURRENT_VERSION).decode()
        for e in AuditEntry.objects.all()
    ]


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def refused_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=Action.LOGIN_FAILED))


def test_a_callback_with_a_forged_state_signs_nobody_in(client, idp):
    subject = idp.new_user("console-admins", username="ann")
    genuine = choose_identity(authorize(client), subject)
    response = callback(client, with_params(genuine, state="forged-state"))
    assert response.status_code == 400
    assert "does not belong to a sign-in started in this browser" in response.content.decode()
    assert not signed_in(client) and not User.objects.filter(username="ann").exists()
    [refused] = refused_entries()
    assert refused.path == "GET /oidc/callback/" and "forged-state" not in refused.path


def test_an_answer_meant_for_another_browser_is_refused(client, idp):
    subject = idp.new_user("console-admins")
    victims_answer = choose_identity(authorize(Client()), subject)  # a sign-in another browser started
    assert callback(client, victims_answer).status_code == 400
    assert not signed_in(client)


def test_an_answer_is_taken_only_once(client, idp):
    subject = idp.new_user("console-viewers")
    answer = choose_identity(authorize(client), subject)
    assert callback(client, answer).status_code == 302
    client.post(reverse("logout"))
    assert callback(client, answer).status_code == 400
    assert not signed_in(client)


def test_a_code_issued_for_another_nonce_is_refused(client, idp):
    subject = idp.new_user("console-admins", username="nico")
    tampered = with_params(authorize(client), nonce="the-attackers-nonce")
    response = callback(client, choose_identity(tampered, subject))
    assert response.status_code == 400 and "could not be verified" in response.content.decode()
    assert not signed_in(client) and not User.objects.filter(username="nico").exists()
    assert len(refused_entries()) == 1


def test_a_refusal_at_the_provider_is_shown(client, idp):
    authorization_url = authorize(client)
    denied = requests.post(authorization_url, data={"action": "deny"}, allow_redirects=False, timeout=10)
    response = callback(client, denied.headers["Location"])
    assert response.status_code == 403
    assert f"{PROVIDER_NAME} did not sign you in (access_denied" in response.content.decode()
    assert not signed_in(client) and len(refused_entries()) == 1


def test_the_providers_words_are_shown_only_for_a_sign_in_this_browser_started(client, idp):
    forged = "?error=access_denied&error_description=Call+555-0100+to+restore+your+access&state=made-up"
    response = client.get(reverse("oidc:callback") + forged)
    assert response.status_code == 400 and "555-0100" not in response.content.decode()


def test_an_unreachable_provider_is_said_on_a_page(client, oidc):
    oidc(OIDC_ISSUER="http://127.0.0.1:9")  # nothing listens there
    response = client.get(reverse("oidc:authenticate"))
    assert response.status_code == 502
    assert f"{PROVIDER_NAME} could not be reached" in response.content.decode()


def test_a_discovery_document_of_another_issuer_is_refused(client, oidc, scripted):
    oidc(OIDC_ISSUER=scripted.url)
    scripted.answer(200, {"issuer": "https://impostor.example.com", "authorization_endpoint": "https://x/a"})
    response = client.get(reverse("oidc:authenticate"))
    assert response.status_code == 502 and "is not that of the issuer" in response.content.decode()
    assert scripted.received[0]["path"] == "/.well-known/openid-configuration"


def test_a_wrong_client_secret_is_reported_without_showing_a_secret(client, idp, settings, caplog, capsys):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-registered-secret"
    response = callback(client, choose_identity(authorize(client), idp.new_user("console-viewers")))
    assert response.status_code == 502 and "HTTP 401" in response.content.decode()
    assert not signed_in(client)
    seen = [response.content.decode(), caplog.text, *capsys.readouterr()]
    seen += audit_texts()
    assert not [text for text in seen if "not-the-registered-secret" in text]


def test_no_secret_or_token_reaches_a_page_a_log_or_the_audit(client, identity_provider, oidc, caplog, capsys):
    secret = oidc()
    pages = [sign_in_through(client, identity_provider.new_user("console-viewers"))]
    pages += [client.get(reverse("slices:dashboard")), client.get(reverse("audit:list"))]
    id_token = client.session["oidc_id_token"]
    pages.append(client.post(reverse("logout")))  # the ID token goes to the provider, in the redirect only
    pages.append(sign_in_through(Client(), identity_provider.new_user("nobody-here")))
    seen = [page.content.decode() for page in pages] + [caplog.text, *capsys.readouterr()]
    seen += audit_texts()
    assert not [text for text in seen if secret in text or id_token in text]


def test_endpoints_set_in_settings_need_no_discovery(client, identity_provider, oidc):
    document = requests.get(identity_provider.url + "/.well-known/openid-configuration", timeout=10).json()
    oidc(
        OIDC_OP_AUTHORIZATION_ENDPOINT=document["authorization_endpoint"],
        OIDC_OP_TOKEN_ENDPOINT=document["token_endpoint"],
        OIDC_OP_USER_ENDPOINT=document["userinfo_endpoint"],
        OIDC_OP_JWKS_ENDPOINT=document["jwks_uri"],
    )
    discoveries = identity_provider.answered("/.well-known/openid-configuration")
    response = sign_in_through(client, identity_provider.new_user("console-operators"))
    assert response.status_code == 302 and signed_in(client)
    assert identity_provider.answered("/.well-known/openid-configuration") == discoveries
    assert client.post(reverse("logout"))["Location"] == reverse("login")  # no end-session endpoint configured


def test_signing_out_ends_the_providers_session_too(client, idp, settings):
    sign_in_through(client, idp.new_user("console-viewers"))
    id_token = client.session["oidc_id_token"]
    response = client.post(reverse("logout"))
    end_session = provider.endpoint("OIDC_OP_END_SESSION_ENDPOINT")
    assert response.status_code == 302 and response["Location"].startswith(end_session + "?")
    assert not signed_in(client)
    sent = {name: values[0] for name, values in parse_qs(urlsplit(response["Location"]).query).items()}
    assert sent == {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": "http://testserver/login/",
        "client_id": settings.OIDC_RP_CLIENT_ID,
    }
    assert requests.get(response["Location"], timeout=10).status_code == 200  # the provider takes it
    assert AuditEntry.objects.filter(action=Action.LOGOUT).count() == 1


def test_signing_out_of_a_password_session_stays_here(client, idp, make_user):
    make_user("viewer", "pat")
    client.post(reverse("login"), {"username": "pat", "password": "x" * 12})
    assert client.post(reverse("logout"))["Location"] == reverse("login")


def test_the_login_page_offers_the_provider_first(client, idp):
    page = client.get(reverse("login") + "?next=/audit/").content.decode()
    button = page.index(f"Sign in with {PROVIDER_NAME}")
    assert button < page.index("Password") and "/oidc/authenticate/?next=/audit/" in page


def test_without_a_provider_there_is_no_button_and_no_flow(client, settings):
    assert not settings.OIDC_ENABLED
    assert "Sign in with" not in client.get(reverse("login")).content.decode()
    assert client.get(reverse("oidc:authenticate")).status_code == 404
    assert client.get(reverse("oidc:callback") + "?code=a&state=b").status_code == 404
