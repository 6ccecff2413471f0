"""Riding out a database that goes away for a while (PostgreSQL restarting or failing over, a locked SQLite file):
background work that can simply do a step again waits for the database and does it again, rather than dying
half-way and leaving its record claiming it still runs."""

import contextlib
import logging
import time
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

UNAVAILABLE = (OperationalError, InterfaceError)  # what a lost or refused connection raises
OUTAGE_WAIT_SECONDS = 600.0  # how long a step waits for the database to come back before it gives up
FIRST_WAIT, LONGEST_WAIT = 0.5, 10.0  # seconds between tries: doubling from the first up to the longest


def through_outages[T](
    step: Callable[[], T],
    what: str,
    *,
    wait_seconds: float = OUTAGE_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`step()`, done again (after dropping the broken connection) while the database is unavailable, for up to
    `wait_seconds`; then its error is raised. The step must be safe to do twice: its own transaction (an error
    rolls it back whole) or writes that land the same however often they are made. Inside a caller's transaction
    the step is done once: the lost connection ended that transaction, and only its owner can do it again."""
    if connection.in_atomic_block:
        return step()
    deadline = time.monotonic() + wait_seconds
    wait = FIRST_WAIT
    while True:
        try:
            return step()
        except UNAVAILABLE:
            if time.monotonic() + wait > deadline:
                logger.error("the database stayed unavailable for %.0f s while %s; giving up", wait_seconds, what)
                raise
            logger.warning("the database is unavailable while %s; trying again in %.1f s", what, wait, exc_info=True)
        with contextlib.suppress(*UNAVAILABLE):  # a connection already cut may complain as it is closed
            connection.close()
        sleep(wait)
        wait = min(wait * 2, LONGEST_WAIT)
