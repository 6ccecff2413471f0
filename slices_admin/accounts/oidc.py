"""Signing in with the identity provider: mozilla-django-oidc's backend (the code for tokens, the ID token's
signature, expiry and nonce, the userinfo call), with the rules of this console on top: the ID token's issuer and
audience checked, the person found by the provider's subject (or created on their first sign-in), their role set
from the provider's groups at every sign-in, and someone in none of the mapped groups refused.

It is not in `AUTHENTICATION_BACKENDS`: only the provider's callback (`oidc_views`) calls it, so a password sign-in
never reaches it. A signed-in user's requests are served by `RoleBackend` like everyone's."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from . import provider
from .claims import ClaimsRefused, check_id_token, groups_in, role_for, summary, username_from
from .models import ProviderIdentity
from .roles import assign_role, remove_role
from .sign_in import note_provider_answer, provider_context

# The backend that serves the sessions of users signed in here (the path Django keeps in the session).
SESSION_BACKEND = "slices_admin.accounts.backends.RoleBackend"


class SignInRefused(Exception):
    """The provider signed someone in whom this console will not: `reason` is shown to them and audited."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderBackend(OIDCAuthenticationBackend):
    """Reads its endpoints through `provider.setting` (configured or discovered): constructing it may fetch the
    discovery document and raise `provider.ProviderUnavailable`."""

    get_settings = staticmethod(provider.setting)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        if "nonce" in kwargs:  # the ID token (a signed userinfo answer is checked by the library alone)
            try:
                check_id_token(payload, issuer=provider.issuer(), client_id=settings.OIDC_RP_CLIENT_ID)
            except ClaimsRefused as refused:
                raise SuspiciousOperation(str(refused)) from None
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims with the userinfo endpoint's over them (groups may be in either: Entra ID puts
        them in the ID token, Okta and Keycloak where they are configured to)."""
        if not self.OIDC_OP_USER_ENDPOINT:
            return dict(payload)
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("the userinfo answer is about another subject than the ID token")
        return {**payload, **userinfo}

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = self.get_userinfo(access_token, id_token, payload)
        issuer, subject = provider.issuer(), str(claims["sub"])
        identity = ProviderIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        groups = groups_in(claims, settings.OIDC_GROUPS_CLAIM)
        username = identity.user.get_username() if identity else username_from(claims, settings.OIDC_USERNAME_CLAIM)
        note_provider_answer(self.request, issuer=issuer, subject=subject, username=username, groups=groups)
        role = role_for(groups, settings.OIDC_ROLE_GROUPS)
        if role is None:
            if identity is not None:  # dropped from every mapped group since: no role left here either
                remove_role(identity.user, context=provider_context(self.request, self._why(groups, None)))
            raise SignInRefused(self._not_in_a_group(groups))
        with transaction.atomic():
            user = self._linked_user(identity, issuer, subject, username, claims)
            if not user.is_active:
                raise SignInRefused(f"The account {username} is deactivated in this console.")
            assign_role(user, role, context=provider_context(self.request, self._why(groups, role)))
        return user

    def _linked_user(self, identity: ProviderIdentity | None, issuer: str, subject: str, username: str, claims):
        """The user linked to the subject, with the provider's name and email, or a new one linked to it."""
        names = {
            "email": str(claims.get("email") or "")[:254],
            "first_name": str(claims.get("given_name") or "")[:150],
            "last_name": str(claims.get("family_name") or "")[:150],
        }
        if identity is not None:
            user = identity.user
            changed = [field for field, value in names.items() if value and getattr(user, field) != value]
            for field in changed:
                setattr(user, field, names[field])
            if changed:
                user.save(update_fields=changed)
            return user
        users = get_user_model().objects
        if not username or users.filter(username=username).exists():
            raise SignInRefused(
                f"An account named {username!r} already exists in this console and is not linked to your "
                f"{provider.name()} account, so you cannot be signed in as it. An administrator can rename or "
                "remove the local account, after which your next sign-in creates yours."
                if username
                else f"{provider.name()} sent no username, email address or subject to name your account by."
            )
        user = users.create_user(username, **names)  # no password: it signs in with the provider only
        ProviderIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        return user

    def _not_in_a_group(self, groups: list[str]) -> str:
        claim = settings.OIDC_GROUPS_CLAIM
        held = f"the groups it sent ({claim!r}): {', '.join(summary(groups))}" if groups else f"it sent no {claim!r}"
        return (
            f"{provider.name()} signed you in, but you are in none of the groups that give a role in this console "
            f"({held}). Ask an administrator to add you to one."
        )

    @staticmethod
    def _why(groups: list[str], role: str | None) -> str:
        held = ", ".join(summary(groups)) or "none"
        outcome = f"gives the role {role}" if role else "gives no role: every role removed"
        return f"Role from {provider.name()} at sign-in: its groups ({held}) {outcome}."
