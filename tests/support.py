"""Small helpers the tests share: waiting for a condition a background process brings about."""

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout: float = 60, every: float = 0.1) -> None:
    """Return once `condition()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {getattr(condition, '__name__', condition)}")
        time.sleep(every)
