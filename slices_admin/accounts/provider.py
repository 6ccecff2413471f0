"""The identity provider as configured: its settings, and the endpoints they leave out, read from the issuer's
discovery document (`/.well-known/openid-configuration`) once an hour per process, on first use (a provider that
is down never stops the console from starting). Nothing here signs anyone in: see `oidc`.

mozilla-django-oidc reads its endpoints as settings (`OIDC_OP_TOKEN_ENDPOINT`...): `setting` answers those from
here, so the library's views and backend take discovered endpoints as if they had been configured."""

import time
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_MAX_AGE = 3600  # seconds a discovery document is reused

# mozilla-django-oidc's endpoint settings, and the discovery document's key for each.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_END_SESSION_ENDPOINT": "end_session_endpoint",
}
_REQUIRED = ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT")

_discovered: dict[str, tuple[float, dict[str, Any]]] = {}  # issuer → (monotonic time read, document)


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read, or is not the configured issuer's. The message says
    which, for the page and the log; it never holds a secret."""


def enabled() -> bool:
    return bool(settings.OIDC_ENABLED)


def name() -> str:
    return str(settings.OIDC_PROVIDER_NAME)


def discovers() -> bool:
    """Whether the endpoints come from the discovery document: unless the authorization endpoint is configured."""
    return not settings.OIDC_OP_AUTHORIZATION_ENDPOINT


def discovery() -> dict[str, Any]:
    """The issuer's discovery document, fetched at most once per `DISCOVERY_MAX_AGE` (a failure is not kept)."""
    issuer: str = settings.OIDC_ISSUER
    cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_MAX_AGE:
        return cached[1]
    url = issuer + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except requests.HTTPError as error:
        raise ProviderUnavailable(f"its discovery document {url} answered HTTP {error.response.status_code}") from None
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"its discovery document {url} could not be read ({type(error).__name__})") from None
    if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != issuer:
        raise ProviderUnavailable(f"the discovery document at {url} is not that of the issuer {issuer}")
    missing = [ENDPOINTS[key] for key in _REQUIRED if not document.get(ENDPOINTS[key])]
    if missing:
        raise ProviderUnavailable(f"the discovery document at {url} names no {', '.join(missing)}")
    _discovered[issuer] = (time.monotonic(), document)
    return document


def forget_discovery() -> None:
    """Read the discovery document again on next use (tests; a provider that moved its endpoints)."""
    _discovered.clear()


def issuer() -> str:
    """The issuer every ID token must name: the discovery document's own spelling of it, or the configured one."""
    if discovers():
        return str(discovery()["issuer"])
    return str(settings.OIDC_ISSUER)


def endpoint(setting_name: str) -> str | None:
    """An endpoint's URL: the configured one, else the discovery document's (None: the provider has none)."""
    configured = getattr(settings, setting_name, None)
    if configured or not discovers():
        return configured or None
    return discovery().get(ENDPOINTS[setting_name]) or None


def setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's `get_settings`, with the endpoints resolved as `endpoint` does."""
    if attr in ENDPOINTS:
        return endpoint(attr)
    if default:
        return getattr(settings, attr, default[0])
    try:
        return getattr(settings, attr)
    except AttributeError:
        raise ImproperlyConfigured(f"Setting {attr} not found") from None
