"""A job's maximum rate (`BulkEditJob.max_rate`, requests per second to Kodexa), held for the job as a whole however
many runners and worker processes share it: each runner reserves the job's next few send slots on its row
(`ledger.reserve_slots`, by the database's clock), and each sending thread waits for a slot of its own before every
request. The rate may change while the job runs: the heartbeat passes the new one on."""

import collections
import threading
import time

from . import ledger

WINDOW_SECONDS = 0.25  # slots reserved at a time: a quarter of a second's worth


class Throttle:
    def __init__(self, job_id: int, rate: float | None, stop: threading.Event):
        self.job_id = job_id
        self.stop = stop  # set: nobody waits any longer
        self._rate = rate
        self._slots: collections.deque[float] = collections.deque()  # time.monotonic() of each reserved slot
        self._lock = threading.Lock()

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        """A new rate from the job's row: slots reserved at the old one are dropped (the next reservation starts
        after them, so the job never goes faster than either)."""
        with self._lock:
            if rate != self._rate:
                self._rate = rate
                self._slots.clear()

    def wait(self) -> bool:
        """Wait for this thread's next send slot; False when the runner was stopped meanwhile."""
        with self._lock:
            if self._rate is None:
                return not self.stop.is_set()
            if not self._slots:
                self._reserve()
            slot = self._slots.popleft() if self._slots else None
        if slot is None:  # the job's rate was lifted meanwhile
            return not self.stop.is_set()
        delay = slot - time.monotonic()
        return not (self.stop.wait(delay) if delay > 0 else self.stop.is_set())

    def _reserve(self) -> None:
        count = max(1, round((self._rate or 1) * WINDOW_SECONDS))
        rate, first_in = ledger.reserve_slots(self.job_id, count)
        self._rate = rate
        if rate is None:
            return
        start = time.monotonic() + first_in
        self._slots.extend(start + n / rate for n in range(count))
