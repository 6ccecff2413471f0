"""The order a runner's threads send its items in: those due now, then retries as their delay runs out, with more
claimed (through the function given) whenever nothing is due. Threads and a clock alone: no database, no Kodexa."""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Schedule:
    """Items due now or later, shared by the sending threads. When nothing is due it claims more through `claim`
    (one thread at a time); `take` blocks until an item is due, or returns None once all are done."""

    def __init__(self, claim: Callable[[], list[int]]):
        self._claim = claim
        self._heap: list[tuple[float, int, int]] = []
        self._order = itertools.count()
        self._outstanding = 0  # claimed and not yet final
        self._exhausted = False  # the last claim found nothing left
        self._claiming = False
        self._cond = threading.Condition()

    def take(self, stop: threading.Event) -> int | None:
        with self._cond:
            while True:
                if stop.is_set():
                    return None
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                if not self._exhausted and not self._claiming:
                    self._claim_more()
                    continue
                if self._exhausted and self._outstanding == 0 and not self._claiming:
                    return None
                wait = self._heap[0][0] - now if self._heap else 0.5
                self._cond.wait(timeout=min(wait, 0.5))

    def _claim_more(self) -> None:
        """Claim outside the lock (it queries the database) while the other threads go on taking."""
        self._claiming = True
        self._cond.release()
        try:
            claimed = self._claim()
        except Exception:
            logger.exception("bulk: claiming items failed; trying again shortly")
            claimed = None
        finally:
            self._cond.acquire()
            self._claiming = False
        if claimed is None:
            self._cond.wait(timeout=1.0)
            return
        self._exhausted = not claimed
        for item_id in claimed:
            heapq.heappush(self._heap, (0.0, next(self._order), item_id))
        self._outstanding += len(claimed)
        self._cond.notify_all()

    def later(self, item_id: int, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), item_id))
            self._cond.notify()

    def done(self) -> None:
        with self._cond:
            self._outstanding -= 1
            self._cond.notify_all()

    def replenish(self) -> None:
        """Items went back in line (a dead runner's): claim again."""
        with self._cond:
            self._exhausted = False
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
