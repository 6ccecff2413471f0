"""What the identity provider's claims mean here: the groups someone is in, the role those give, the username a new
account gets, and the ID token checks mozilla-django-oidc leaves out (issuer and audience). Pure functions."""

from collections.abc import Iterable, Mapping
from typing import Any

from .roles import ADMIN, OPERATOR, VIEWER

USERNAME_MAX_LENGTH = 150  # Django's username column
GROUPS_SHOWN = 50  # groups kept in an audit entry (Entra ID may send 200)


class ClaimsRefused(ValueError):
    """An ID token this console did not ask for: another issuer's, or another client's."""


def groups_in(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The groups `claim` lists: a claim of that name (Auth0's namespaced `https://example.com/groups` included),
    else a dotted path into nested claims (Keycloak's `realm_access.roles`). A single string is one group."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str | int) and not isinstance(item, bool)]
    return []


def role_for(groups: Iterable[str], role_groups: Mapping[str, Iterable[str]]) -> str | None:
    """The highest role any of `groups` maps to (admin, then operator, then viewer); None when none does. Group
    names match exactly, case included (Entra ID sends object ids, Keycloak paths such as `/ops/admins`)."""
    member_of = set(groups)
    for role in (ADMIN, OPERATOR, VIEWER):
        if member_of.intersection(role_groups.get(role, ())):
            return role
    return None


def username_from(claims: Mapping[str, Any], claim: str) -> str:
    """The username a new account gets: `claim`, else the email address, else the subject."""
    for name in (claim, "email", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:USERNAME_MAX_LENGTH]
    return ""


def check_id_token(payload: Mapping[str, Any], *, issuer: str, client_id: str) -> None:
    """Raise ClaimsRefused unless the ID token was issued by `issuer` for `client_id` (OpenID Connect Core 3.1.3.7,
    steps 2-4). mozilla-django-oidc checks the signature, the expiry and the nonce, not these."""
    if str(payload.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
        raise ClaimsRefused("the ID token was issued by another issuer")
    audience = payload.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if client_id not in audiences:
        raise ClaimsRefused("the ID token was issued for another client")
    if len(audiences) > 1 and payload.get("azp") not in (None, client_id):
        raise ClaimsRefused("the ID token was issued to another authorized party")
    if not isinstance(payload.get("sub"), str) or not payload["sub"]:
        raise ClaimsRefused("the ID token names no subject")


def summary(groups: list[str]) -> list[str]:
    """The groups as an audit entry keeps them: at most `GROUPS_SHOWN`, the count of the rest said."""
    if len(groups) <= GROUPS_SHOWN:
        return list(groups)
    return [*groups[:GROUPS_SHOWN], f"… and {len(groups) - GROUPS_SHOWN} more"]
