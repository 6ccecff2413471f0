"""The sign-in part of the settings: the company's identity provider (OpenID Connect, read by mozilla-django-oidc and
`accounts.provider`), which accounts may use a local password, and how long personal API tokens may last.
`settings` imports every name of this module.

On when OIDC_ISSUER and OIDC_CLIENT_ID are set (README "Signing in with an identity provider"). The endpoints come
from the issuer's discovery document unless OIDC_AUTHORIZATION_ENDPOINT is set, which turns discovery off: then the
token endpoint and JWKS URI are needed too. Users are created on their first sign-in; their role follows the
provider's groups at every sign-in (the highest mapped role wins), and someone in none of them is refused.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from slices_admin.environment import env, env_list

# --- The identity provider ----------------------------------------------------------------------------------------
OIDC_ISSUER = env("OIDC_ISSUER", "").rstrip("/")
OIDC_RP_CLIENT_ID = env("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env("OIDC_CLIENT_SECRET", "")  # server-side only, like the Kodexa key
OIDC_ENABLED = bool(OIDC_ISSUER and OIDC_RP_CLIENT_ID)
if bool(OIDC_ISSUER) != bool(OIDC_RP_CLIENT_ID):
    raise ImproperlyConfigured("Signing in with an identity provider needs both OIDC_ISSUER and OIDC_CLIENT_ID.")
if OIDC_ISSUER and (urlsplit(OIDC_ISSUER).scheme not in {"https", "http"} or not urlsplit(OIDC_ISSUER).netloc):
    raise ImproperlyConfigured(
        f"OIDC_ISSUER is the provider's issuer URL, e.g. https://sso.example.com: not {OIDC_ISSUER!r}."
    )
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", "single sign-on")  # the login page's "Sign in with ..."
OIDC_RP_SCOPES = env("OIDC_SCOPES", "openid email profile")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")  # a claim name, or a dotted path (realm_access.roles)
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", "preferred_username")  # then email, then sub
OIDC_ROLE_GROUPS = {
    "viewer": env_list("OIDC_VIEWER_GROUPS", ""),
    "operator": env_list("OIDC_OPERATOR_GROUPS", ""),
    "admin": env_list("OIDC_ADMIN_GROUPS", ""),
}
if OIDC_ENABLED and not any(OIDC_ROLE_GROUPS.values()):
    raise ImproperlyConfigured(
        "OIDC is on but no group maps to a role, so nobody could sign in: set OIDC_VIEWER_GROUPS, "
        "OIDC_OPERATOR_GROUPS or OIDC_ADMIN_GROUPS."
    )
# Explicit endpoints (mozilla-django-oidc's names); None: read from the discovery document.
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_AUTHORIZATION_ENDPOINT", "") or None
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_TOKEN_ENDPOINT", "") or None
OIDC_OP_USER_ENDPOINT = env("OIDC_USERINFO_ENDPOINT", "") or None
OIDC_OP_JWKS_ENDPOINT = env("OIDC_JWKS_URI", "") or None
OIDC_OP_END_SESSION_ENDPOINT = env("OIDC_END_SESSION_ENDPOINT", "") or None
OIDC_RP_SIGN_ALGO = env("OIDC_SIGN_ALGO", "RS256")
if OIDC_ENABLED and OIDC_OP_AUTHORIZATION_ENDPOINT and not (OIDC_OP_TOKEN_ENDPOINT and OIDC_OP_JWKS_ENDPOINT):
    raise ImproperlyConfigured(
        "OIDC_AUTHORIZATION_ENDPOINT turns discovery off: set OIDC_TOKEN_ENDPOINT and OIDC_JWKS_URI as well."
    )
OIDC_TOKEN_AUTH_METHOD = env("OIDC_TOKEN_AUTH_METHOD", "client_secret_basic")
if OIDC_TOKEN_AUTH_METHOD not in {"client_secret_basic", "client_secret_post"}:
    raise ImproperlyConfigured("OIDC_TOKEN_AUTH_METHOD is client_secret_basic or client_secret_post.")
OIDC_TOKEN_USE_BASIC_AUTH = OIDC_TOKEN_AUTH_METHOD == "client_secret_basic"  # noqa: S105 (a method's name)
OIDC_TIMEOUT = float(env("OIDC_TIMEOUT", "10"))  # seconds for each call to the provider
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # in the server-side session: sign-out hands it to the provider's end-session endpoint
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc:callback"

# --- Local passwords ----------------------------------------------------------------------------------------------
# `all` (anyone with one), or `listed`: only PASSWORD_SIGN_IN_USERS (break-glass accounts), so everyone else signs in
# through the identity provider.
PASSWORD_SIGN_IN = env("PASSWORD_SIGN_IN", "all")
PASSWORD_SIGN_IN_USERS = env_list("PASSWORD_SIGN_IN_USERS", "")
if PASSWORD_SIGN_IN not in {"all", "listed"}:
    raise ImproperlyConfigured("PASSWORD_SIGN_IN is all or listed.")
if PASSWORD_SIGN_IN != "all" and not (PASSWORD_SIGN_IN_USERS or OIDC_ENABLED):  # noqa: S105 (a mode)
    raise ImproperlyConfigured("PASSWORD_SIGN_IN=listed, no PASSWORD_SIGN_IN_USERS and no OIDC: nobody could sign in.")

# The origins the sign-out form may land on (the Content-Security-Policy's form-action): the provider's end-session
# endpoint, under the issuer's origin or its own.
SIGN_OUT_ORIGINS = sorted(
    {"{0.scheme}://{0.netloc}".format(urlsplit(url)) for url in (OIDC_ISSUER, OIDC_OP_END_SESSION_ENDPOINT) if url}
)

# --- Personal API tokens (`/tokens/`) -----------------------------------------------------------------------------
# The longest expiry anyone may choose, in days (the page offers 7, 30, 90 and 365 up to it, and it if it is none of
# those; `add_user --token-days` is held to it too).
API_TOKEN_MAX_DAYS = int(env("API_TOKEN_MAX_DAYS", "365"))
if API_TOKEN_MAX_DAYS < 1:
    raise ImproperlyConfigured("API_TOKEN_MAX_DAYS is a number of days, 1 or more.")
