"""How someone signed in, or why the identity provider's answer was refused, as the audit log keeps it.

The sign-in entry itself is written by `audit.signals` on Django's `user_logged_in`: it asks `details_of` how (a
password, or the provider: its name, issuer and the subject it vouched for). A refusal at the provider's callback is
written here, by `record_refused`, since Django signals nothing for it."""

from typing import Any

from django.http import HttpRequest

from slices_admin.audit.middleware import within_anonymous_budget
from slices_admin.audit.models import ACCOUNT, AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt

from . import provider
from .claims import summary

PASSWORD, PROVIDER = "password", "oidc"
_NOTE = "console_sign_in"  # the request attribute holding what the provider said of the person signing in


def note_provider_answer(request: HttpRequest, *, issuer: str, subject: str, username: str, groups: list[str]) -> None:
    """Remember on the request who the provider vouched for, for the entry this sign-in (or its refusal) gets."""
    details = {
        "method": PROVIDER,
        "provider": provider.name(),
        "issuer": issuer,
        "subject": subject,
        "username": username,
        "groups": summary(groups),
    }
    setattr(request, _NOTE, details)


def details_of(request: HttpRequest | None) -> dict[str, Any]:
    """How the person signing in on `request` proved who they are."""
    noted = getattr(request, _NOTE, None) if request is not None else None
    return dict(noted) if noted else {"method": PASSWORD}


def describe(details: dict[str, Any]) -> str:
    """One line for the entry's reason (the audit page shows and searches it); "" for a password."""
    if details.get("method") != PROVIDER:
        return ""
    return f"Signed in with {details['provider']} (issuer {details['issuer']}, subject {details['subject']})."


def provider_context(request: HttpRequest, reason: str) -> AuditContext:
    """The context of a change the provider made (a role from its groups): the provider is the actor."""
    actor = f"{provider.name()} (identity provider)"
    return AuditContext.from_request(request, reason=reason).but(actor=None, actor_name=actor)


def record_refused(request: HttpRequest, reason: str, *, vouched: bool) -> None:
    """One failed sign-in entry for a refused answer from the provider, and the 403 page is not audited again.

    `vouched`: the provider did sign the person in (a refusal of ours, e.g. no mapped group), which takes a real
    account there: always audited. Otherwise (a stale or forged callback) it counts against the per-address budget
    of anonymous refusals, so nobody can fill the append-only log from outside."""
    request.denial_audited = True  # type: ignore[attr-defined]  # read by AuditDeniedMiddleware
    if not vouched and not within_anonymous_budget(request.META.get("REMOTE_ADDR", "")):
        return
    details = getattr(request, _NOTE, None) or {"method": PROVIDER, "provider": provider.name()}
    record_attempt(
        AuditContext.from_request(request).but(actor=None, actor_name="anonymous"),
        action=AuditEntry.Action.LOGIN_FAILED,
        outcome=AuditEntry.Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=str(details.get("username", "")),
        request_body=details,
        error=reason,
    )
