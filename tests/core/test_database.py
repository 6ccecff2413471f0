"""`through_outages`: a step of background work waits for the database and is done again, within its bound."""

import pytest
from django.db import OperationalError, transaction

from slices_admin.core.database import through_outages


def test_a_step_is_done_again_until_the_database_answers():
    calls, waits = [], []

    def step():
        calls.append(1)
        if len(calls) < 4:
            raise OperationalError("server closed the connection unexpectedly")
        return "written"

    assert through_outages(step, "testing", sleep=waits.append) == "written"
    assert len(calls) == 4 and waits == [0.5, 1.0, 2.0]  # doubling waits between the tries


def test_the_waits_grow_no_longer_than_ten_seconds():
    waits = []

    def step():
        if len(waits) < 8:
            raise OperationalError("connection refused")

    through_outages(step, "testing", sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_a_database_away_longer_than_the_bound_raises_its_error():
    def step():
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError, match="connection refused"):
        through_outages(step, "testing", wait_seconds=0, sleep=lambda _seconds: None)


def test_other_errors_are_not_retried():
    calls = []

    def step():
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        through_outages(step, "testing", sleep=lambda _seconds: None)
    assert len(calls) == 1


@pytest.mark.django_db
def test_a_step_inside_a_transaction_is_done_once_its_owner_retries_the_whole():
    calls = []

    def step():
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    with transaction.atomic(), pytest.raises(OperationalError):
        through_outages(step, "testing", sleep=lambda _seconds: None)
    assert len(calls) == 1
