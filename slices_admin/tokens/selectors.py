"""Reading tokens: the one lookup of a presented token, and the lists the pages show."""

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import keys
from .models import APIToken


def find_token(presented: str) -> APIToken | None:
    """The token whose digest matches `presented` (with its user), whatever its state; None for no such token."""
    if not presented or len(presented) > keys.MAX_LENGTH:
        return None
    for candidate in APIToken.objects.filter(key_id=keys.key_id_of(presented)).select_related("user"):
        if keys.matches(presented, candidate.digest):
            return candidate
    return None


def tokens_of(user: User) -> QuerySet[APIToken]:
    """A user's own tokens, newest first: active, expired and revoked."""
    return APIToken.objects.filter(user_id=user.pk)


def every_token(*, active_only: bool) -> QuerySet[APIToken]:
    """Every user's tokens, newest first, with their owners (the administrators' page)."""
    tokens = APIToken.objects.select_related("user", "revoked_by")
    if active_only:
        tokens = tokens.filter(active_filter())
    return tokens


def active_filter() -> Q:
    return Q(revoked_at__isnull=True, expires_at__gt=timezone.now())
