"""What a failed attempt comes to, for every kind of error and count: pure decisions, no database, no sandbox."""

import pytest

from slices_admin.bulk.decisions import FailureKind, Limits, backoff_limit, decide_failure, looks_down
from slices_admin.kodexa import errors

LIMITS = Limits(max_failures=5, key_refused_pause=30.0, backoff=0.5)


def timeout():
    return errors.KodexaTimeout(None, "Kodexa did not answer within 15 s.")


def unreachable():
    return errors.KodexaUnreachable(None, "Connection refused.")


def server_error():
    return errors.KodexaServerError(502, "Bad gateway.")


def rate_limited(after: float | None = 2.0):
    return errors.KodexaRateLimited(429, "Too many requests.", retry_after=after)


def key_refused():
    return errors.KodexaAuthError(401, "Unauthorized.")


def invalid():
    return errors.KodexaValidationError(400, "status: not a status.")


def not_found():
    return errors.KodexaNotFound(404, "No such slice.")


def console_failure():
    return errors.KodexaError(None, "The console failed on this slice (KeyError).")


def decide(error, failures_before=0, *, outage=False, answered_put=True):
    return decide_failure(
        error, failures_before=failures_before, outage=outage, answered_put=answered_put, limits=LIMITS
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (rate_limited, FailureKind.RATE_LIMITED),
        (key_refused, FailureKind.KEY_REFUSED),
        (timeout, FailureKind.UNAVAILABLE),
        (unreachable, FailureKind.UNAVAILABLE),
        (server_error, FailureKind.UNAVAILABLE),
        (invalid, FailureKind.REFUSED),
        (not_found, FailureKind.REFUSED),
        (console_failure, FailureKind.REFUSED),
    ],
)
def test_each_error_has_one_kind(error, kind):
    assert FailureKind.of(error()) is kind


BACKOFF = "backoff"


@pytest.mark.parametrize(
    ("error", "failures_before", "outage", "answered_put", "expected"),
    # expected: the item's state, the audit outcome, the item's failures, the pause, the retry, the sent mark forgotten
    [
        # No answer, or Kodexa failed on its side: counted against the item, tried again after a backoff ...
        (timeout, 0, False, True, ("pending", "failed", 1, None, BACKOFF, False)),
        (server_error, 3, False, True, ("pending", "failed", 4, None, BACKOFF, False)),
        (unreachable, 0, False, False, ("pending", "failed", 1, None, BACKOFF, False)),
        # ... until its tries run out
        (timeout, 4, False, True, ("failed", "failed", 5, None, None, False)),
        (server_error, 4, False, False, ("failed", "failed", 5, None, None, False)),
        # Kodexa down: the job already waits for it, and the item is not blamed, even at its last try
        (unreachable, 4, True, True, ("pending", "failed", 4, None, 0.0, False)),
        (timeout, 0, True, False, ("pending", "failed", 0, None, 0.0, False)),
        # A 429: the job pauses for its Retry-After, the item is not blamed; a PUT it answered was not applied
        (rate_limited, 0, False, True, ("pending", "failed", 0, 2.0, 0.0, True)),
        (rate_limited, 4, False, False, ("pending", "failed", 4, 2.0, 0.0, False)),
        (rate_limited, 4, True, True, ("pending", "failed", 4, 2.0, 0.0, True)),  # answered: no outage
        # The console's API key refused: the job pauses until it is fixed, the item is not blamed
        (key_refused, 0, False, True, ("pending", "failed", 0, 30.0, 0.0, True)),
        (key_refused, 4, False, False, ("pending", "failed", 4, 30.0, 0.0, False)),
        # Kodexa refused the change (or the console failed before sending it): final at once
        (invalid, 0, False, True, ("failed", "rejected", 1, None, None, False)),
        (not_found, 2, True, False, ("failed", "rejected", 3, None, None, False)),
        (console_failure, 0, False, False, ("failed", "rejected", 1, None, None, False)),
    ],
)
def test_the_decision_for_each_kind_of_failure_and_count(error, failures_before, outage, answered_put, expected):
    state, outcome, failures, pause, retry, forget_sent = expected
    decision = decide(error(), failures_before, outage=outage, answered_put=answered_put)
    assert (decision.state, decision.outcome, decision.failures) == (state, outcome, failures)
    assert (decision.pause[0] if decision.pause else None) == pause
    assert decision.retry_within == (backoff_limit(failures, LIMITS.backoff) if retry == BACKOFF else retry)
    assert decision.forget_sent is forget_sent


def test_a_failure_tried_again_says_which_try_it_was():
    assert decide(timeout(), 1).message == "Kodexa did not answer within 15 s. Will try again (failure 2 of 5)."


def test_the_last_try_gives_up_with_kodexas_advice():
    error = server_error()
    assert decide(error, 4).message == f"Bad gateway. Gave up after 5 tries. {error.advice}"


def test_an_outage_says_the_job_waits_for_kodexa():
    message = decide(unreachable(), 2, outage=True).message
    assert message == "Connection refused. Kodexa looks down: the job paused, and sends it again once Kodexa answers."


def test_a_429_without_retry_after_pauses_five_seconds():
    decision = decide(rate_limited(after=None))
    assert decision.pause == (5.0, "Kodexa asked to slow down (429): paused for 5 s.")
    assert decision.message == "Too many requests. The job paused for 5 s and will send it again."


def test_a_refused_key_pauses_with_the_advice_to_fix_it():
    error = key_refused()
    decision = decide(error)
    assert decision.pause == (30.0, f"Kodexa refused the console's API key. {error.advice}")
    assert decision.message == "Unauthorized. The job paused; it goes on once the key is fixed (or cancel it)."


def test_a_refusal_keeps_kodexas_message_and_the_advice_as_it_stands():
    error = invalid()
    error.advice = "Say so more precisely."  # as `explain_unknown_field_refusal` may have made it
    assert decide(error).message == "status: not a status. Say so more precisely."


def test_the_backoff_doubles_from_its_base_up_to_thirty_seconds():
    assert [backoff_limit(n, 0.5) for n in (0, 1, 2, 3, 7, 8)] == [0.5, 0.5, 1.0, 2.0, 30.0, 30.0]


def test_kodexa_looks_down_when_it_refuses_connections_or_fails_enough_in_a_row():
    assert looks_down(unreachable(), 1, after=8)
    assert not looks_down(timeout(), 7, after=8)
    assert looks_down(timeout(), 8, after=8)
