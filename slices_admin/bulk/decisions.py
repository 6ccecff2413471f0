"""What a failed attempt at an item comes to: from Kodexa's error and the counts so far, the item's next state, the
audit outcome, the message, whether the whole job pauses, and when to try again. Pure: the runner applies it.

A failure that is Kodexa's or the console's rather than the slice's (a 429, a refused API key, an outage) pauses
the job and is not counted against the item; any other failure without an answer is, up to
BULK_MAX_TRANSIENT_FAILURES tries; an answer refusing the change is final at once.
"""

import enum
from dataclasses import dataclass

from django.conf import settings

from slices_admin.audit.models import AuditEntry
from slices_admin.kodexa import errors

from .models import BulkEditItem

BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_UNSAID = 5.0  # the pause for a 429 without a Retry-After


class FailureKind(enum.Enum):
    RATE_LIMITED = "rate limited"  # 429: the whole job waits for the Retry-After
    KEY_REFUSED = "key refused"  # 401/403: the console's API key, not this slice
    UNAVAILABLE = "unavailable"  # no answer, a timeout or a 5xx: it may go through later
    REFUSED = "refused"  # any other answer: Kodexa will not make this change

    @classmethod
    def of(cls, exc: errors.KodexaError) -> "FailureKind":
        if isinstance(exc, errors.KodexaRateLimited):
            return cls.RATE_LIMITED
        if isinstance(exc, errors.KodexaAuthError):
            return cls.KEY_REFUSED
        if isinstance(exc, errors.KodexaUnavailable):
            return cls.UNAVAILABLE
        return cls.REFUSED

    @property
    def transient(self) -> bool:
        """Whether the change may still be made: the item goes back in line (unless its tries run out)."""
        return self is not FailureKind.REFUSED


@dataclass(frozen=True)
class Limits:
    """The settings a decision depends on (BULK_MAX_TRANSIENT_FAILURES, BULK_KEY_REFUSED_PAUSE_SECONDS,
    BULK_BACKOFF_SECONDS)."""

    max_failures: int
    key_refused_pause: float
    backoff: float

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            settings.BULK_MAX_TRANSIENT_FAILURES, settings.BULK_KEY_REFUSED_PAUSE_SECONDS, settings.BULK_BACKOFF_SECONDS
        )


@dataclass(frozen=True)
class FailureDecision:
    state: str  # the item's: pending (tried again) or failed
    outcome: str  # the audit entry's: failed (it may go through later) or rejected (Kodexa refused it)
    message: str  # the item's and the audit entry's
    failures: int  # the item's transient failures, this one counted unless the job pauses for it
    pause: tuple[float, str] | None  # the whole job waits this many seconds, for this reason
    retry_within: float | None  # None: final; else tried again after a random wait of up to this (0: at once)
    forget_sent: bool  # Kodexa answered the PUT without acting on it: no earlier PUT's fate is in question now


def decide_failure(
    exc: errors.KodexaError, *, failures_before: int, outage: bool, answered_put: bool, limits: Limits
) -> FailureDecision:
    """`failures_before`: the item's transient failures so far. `outage`: the runner judged Kodexa down (after an
    unavailable failure; see `looks_down`), so the job already waits for it. `answered_put`: the error answers the
    PUT, not the read before it. `exc.advice` is read as it is now (the caller may have made it more precise)."""
    kind = FailureKind.of(exc)
    outage = outage and kind is FailureKind.UNAVAILABLE  # only an unanswered request says Kodexa is down
    pauses = outage or kind in (FailureKind.RATE_LIMITED, FailureKind.KEY_REFUSED)
    failures = failures_before + (0 if pauses else 1)
    gives_up = kind.transient and not pauses and failures >= limits.max_failures
    tried_again = kind.transient and not gives_up
    pause = None
    message = f"{exc.message} {exc.advice}".strip()
    if outage:
        message = f"{exc.message} Kodexa looks down: the job paused, and sends it again once Kodexa answers."
    elif kind is FailureKind.RATE_LIMITED:
        said = exc.retry_after if isinstance(exc, errors.KodexaRateLimited) else None  # it is, as `kind` says
        wait = said if said is not None else RETRY_AFTER_UNSAID
        pause = (wait, f"Kodexa asked to slow down (429): paused for {wait:g} s.")
        message = f"{exc.message} The job paused for {wait:g} s and will send it again."
    elif kind is FailureKind.KEY_REFUSED:
        pause = (limits.key_refused_pause, f"Kodexa refused the console's API key. {exc.advice}")
        message = f"{exc.message} The job paused; it goes on once the key is fixed (or cancel it)."
    elif tried_again:
        message = f"{exc.message} Will try again (failure {failures} of {limits.max_failures})."
    elif gives_up:
        message = f"{exc.message} Gave up after {failures} tries. {exc.advice}".strip()
    if not tried_again:
        retry_within = None
    elif pauses:
        retry_within = 0.0  # the pause is the wait
    else:
        retry_within = backoff_limit(failures, limits.backoff)
    return FailureDecision(
        state=BulkEditItem.State.PENDING if tried_again else BulkEditItem.State.FAILED,
        outcome=AuditEntry.Outcome.FAILED if kind.transient else AuditEntry.Outcome.REJECTED,
        message=message,
        failures=failures,
        pause=pause,
        retry_within=retry_within,
        # A 429 or 401 answering the PUT means Kodexa did nothing with it; one answering the checking read leaves an
        # earlier PUT's fate as unknown as it was (and so does any failure without an answer).
        forget_sent=answered_put and kind in (FailureKind.RATE_LIMITED, FailureKind.KEY_REFUSED),
    )


def backoff_limit(failures: int, base: float) -> float:
    """Full jitter's upper bound: the wait before the next try is drawn from 0 to base * 2^(failures-1), at most
    30 s."""
    doubling: int = 2 ** max(failures - 1, 0)  # an int: the exponent is never negative
    return min(BACKOFF_CAP_SECONDS, base * doubling)


def looks_down(exc: errors.KodexaError, failing_in_a_row: int, *, after: int) -> bool:
    """Whether an unavailable failure says Kodexa is down rather than this slice unlucky: it refuses connections,
    or `after` attempts in a row have failed without an answer (this one included)."""
    return isinstance(exc, errors.KodexaUnreachable) or failing_in_a_row >= after
