"""The provider's endpoints: read from its discovery document once an hour, configured ones winning, and a document
that is missing, broken or another issuer's reported without ever stopping the console."""

import pytest

from slices_admin.accounts import provider
from tests.identity_provider import sign_in_through

pytestmark = pytest.mark.django_db


def discoveries(idp) -> int:
    return idp.answered("/.well-known/openid-configuration")


def test_the_discovery_document_is_read_once_for_many_sign_ins(client, identity_provider, oidc):
    oidc()
    before = discoveries(identity_provider)
    for _ in range(3):
        assert sign_in_through(client, identity_provider.new_user("console-viewers")).status_code == 302
        client.post("/logout/")
    assert discoveries(identity_provider) == before + 1
    provider.forget_discovery()
    assert provider.endpoint("OIDC_OP_TOKEN_ENDPOINT") == f"{identity_provider.url}/oauth2/token"
    assert discoveries(identity_provider) == before + 2


def test_a_configured_endpoint_wins_over_the_discovered_one(identity_provider, oidc):
    oidc(OIDC_OP_END_SESSION_ENDPOINT="https://logout.example.com/bye")
    assert provider.endpoint("OIDC_OP_END_SESSION_ENDPOINT") == "https://logout.example.com/bye"
    assert provider.endpoint("OIDC_OP_JWKS_ENDPOINT") == f"{identity_provider.url}/jwks"
    assert provider.issuer() == identity_provider.url


def test_without_discovery_an_endpoint_not_configured_is_none(oidc, settings):
    oidc(OIDC_ISSUER="http://127.0.0.1:9", OIDC_OP_AUTHORIZATION_ENDPOINT="http://127.0.0.1:9/authorize")
    assert provider.endpoint("OIDC_OP_END_SESSION_ENDPOINT") is None  # and nothing was asked of 127.0.0.1:9
    assert provider.issuer() == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("status", "document", "said"),
    [
        (500, {"error": "down"}, "answered HTTP 500"),
        (200, b"<html>maintenance</html>", r"could not be read \(JSONDecodeError\)"),
        (200, {"issuer": "ISSUER", "authorization_endpoint": "https://a"}, "names no token_endpoint, jwks_uri"),
        (200, {"issuer": "https://elsewhere.example.com"}, "is not that of the issuer"),
    ],
)
def test_a_missing_broken_or_foreign_discovery_document_is_reported(oidc, scripted, status, document, said):
    oidc(OIDC_ISSUER=scripted.url)
    if isinstance(document, dict) and document.get("issuer") == "ISSUER":
        document = {**document, "issuer": scripted.url}
    scripted.answer(status, document)
    with pytest.raises(provider.ProviderUnavailable, match=said):
        provider.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
    scripted.answer(status, document)
    with pytest.raises(provider.ProviderUnavailable):  # a failure is not kept: the next use asks again
        provider.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
    assert len(scripted.received) == 2
