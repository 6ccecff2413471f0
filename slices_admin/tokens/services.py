"""Issuing and revoking tokens, noting their use, and refusing expired or revoked ones: every change audited.

The token's text exists only in `issue_token`'s answer, to be shown once; what is stored and audited is its digest's
row, named by id, name and public key id."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from slices_admin.audit.models import ACCOUNT, AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt

from . import keys
from .models import LAST_USED_EVERY, APIToken

EXPIRY_DAYS = (7, 30, 90, 365)
DEFAULT_EXPIRY_DAYS = 30
# A script that keeps using an expired or revoked token is audited once per token in this time, not on every call.
REFUSAL_AUDITED_EVERY = timedelta(hours=1)


def expiry_choices() -> list[int]:
    """The expiries offered, in days: the usual ones up to `API_TOKEN_MAX_DAYS`, and that maximum itself."""
    longest = settings.API_TOKEN_MAX_DAYS
    return sorted({days for days in EXPIRY_DAYS if days <= longest} | {longest})


def default_expiry_days() -> int:
    return min(DEFAULT_EXPIRY_DAYS, settings.API_TOKEN_MAX_DAYS)


def _described(token: APIToken) -> dict[str, Any]:
    """The token as audit entries record it (keys chosen so that redaction of secret-looking names leaves them)."""
    return {
        "tokenId": token.pk,
        "name": token.name,
        "keyId": token.shown_id,
        "owner": token.user.get_username(),
        "expiresAt": token.expires_at.isoformat(),
        "revokedAt": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def issue_token(user: User, *, name: str, days: int, context: AuditContext) -> tuple[APIToken, str]:
    """A new token for `user`, valid for `days`: its row and its text (which nothing keeps; show it once)."""
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValueError(f"A token expires after 1 to {settings.API_TOKEN_MAX_DAYS} days (API_TOKEN_MAX_DAYS).")
    key_id, text = keys.new_token()
    now = timezone.now()
    with transaction.atomic():
        token = APIToken.objects.create(
            user=user,
            name=name,
            key_id=key_id,
            digest=keys.digest(text),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        record_attempt(
            context,
            action=AuditEntry.Action.TOKEN_CREATE,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            resource=ACCOUNT,
            remote_id=user.get_username(),
            after=_described(token),
        )
    return token, text


def revoke_token(token: APIToken, *, by: User, context: AuditContext) -> bool:
    """Revoke `token` from now on (False: it was revoked already). Its owner or an administrator does it."""
    with transaction.atomic():
        before = _described(token)
        now = timezone.now()
        revoked = APIToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=by)
        if not revoked:
            return False
        token.revoked_at, token.revoked_by = now, by
        by_owner = by.pk == token.user_id
        record_attempt(
            context,
            action=AuditEntry.Action.TOKEN_REVOKE,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            resource=ACCOUNT,
            remote_id=token.user.get_username(),
            before=before,
            after=_described(token),
            error="" if by_owner else f"Revoked by an administrator ({by.get_username()}), not by its owner.",
        )
    return True


def note_use(token: APIToken, now: datetime) -> None:
    """Record that `token` was used now, unless that was already recorded less than `LAST_USED_EVERY` ago (by this
    process or another: the condition is the database's)."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY)
    if APIToken.objects.filter(stale, pk=token.pk).update(last_used_at=now):
        token.last_used_at = now


def refusal_message(token: APIToken, status: str) -> str:
    """What a script is told when its token is refused: which token, since when, and what to do."""
    if status == APIToken.Status.REVOKED and token.revoked_at is not None:
        ended = f"was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC"
    else:
        ended = f"expired on {token.expires_at:%Y-%m-%d %H:%M} UTC"
    page = reverse("tokens:list")
    return f"This API token (“{token.name}”) {ended}. Create a new one on the console's API tokens page ({page})."


def record_refusal(token: APIToken, status: str, context: AuditContext) -> None:
    """Audit the use of an expired or revoked token: once per token and `REFUSAL_AUDITED_EVERY`, across processes
    (a cron job with an old token must not fill the append-only log)."""
    seconds = int(REFUSAL_AUDITED_EVERY.total_seconds())
    if not caches["throttle"].add(f"token-refused-{token.pk}", True, seconds):
        return
    record_attempt(
        context.but(credential=token.credential),
        action=AuditEntry.Action.TOKEN_REFUSED,
        outcome=AuditEntry.Outcome.DENIED,
        resource=ACCOUNT,
        remote_id=token.user.get_username(),
        error=f"{refusal_message(token, status)} Further refusals of this token within the hour are not audited.",
    )
