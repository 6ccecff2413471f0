"""Items a runner marked in flight ahead of their PUTs, a claimed batch at a time (`ledger.mark_claimed_in_flight`),
so that a sending thread writes nothing before its PUT. Threads and a clock alone: no database, no Kodexa.

A mark ahead stands for the per-item mark only while the runner knows itself alive: its last heartbeat was written
less than half the stale time ago, so no other runner can have taken its items back. Past that, or for a base other
than the one marked, the thread marks the item itself again, which checks the runner still holds it.
"""

import threading
import time


class MarksAhead:
    def __init__(self, valid_for: float):
        self.valid_for = valid_for  # seconds after the runner's last heartbeat
        self._items: set[int] = set()
        self._alive_at = time.monotonic()
        self._lock = threading.Lock()

    def add(self, item_ids: set[int]) -> None:
        with self._lock:
            self._items |= item_ids

    def alive(self) -> None:
        """The runner's heartbeat was just written."""
        self._alive_at = time.monotonic()

    def take(self, item_id: int) -> bool:
        """Whether the item's mark ahead stands for its PUT about to leave (taken off the list either way)."""
        with self._lock:
            held = item_id in self._items
            self._items.discard(item_id)
        return held and time.monotonic() - self._alive_at < self.valid_for

    def drain(self) -> list[int]:
        """The items marked ahead and never sent (the sending threads have stopped)."""
        with self._lock:
            left, self._items = sorted(self._items), set()
        return left
