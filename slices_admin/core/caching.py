"""A small per-process memory of recent answers (Kodexa's probe, its recorded outage, the hosts already logged),
each kept for a given number of seconds by the monotonic clock."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_ABSENT = object()


class TimeLimitedCache:
    """Values by key, each for `max_age` seconds from when it was stored, at most `size` of them (the one used
    longest ago is forgotten first). Thread-safe; `get_or_compute` computes under the lock, so threads asking at
    once wait for the one computation in flight."""

    def __init__(self, size: int = 1):
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, max_age: float, default: Any = None) -> Any:
        """The value stored under `key` less than `max_age` seconds ago, else `default`."""
        with self._lock:
            return self._fresh(key, max_age, default)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._store(key, value)

    def get_or_compute(self, key: Hashable, max_age: float, compute: Callable[[], Any]) -> Any:
        """The fresh value under `key`, or `compute()`'s, stored."""
        with self._lock:
            value = self._fresh(key, max_age, _ABSENT)
            if value is _ABSENT:
                value = compute()
                self._store(key, value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _fresh(self, key: Hashable, max_age: float, default: Any) -> Any:
        found = self._items.get(key)
        if found is None:
            return default
        stored_at, value = found
        if time.monotonic() - stored_at >= max_age:
            del self._items[key]
            return default
        self._items.move_to_end(key)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        self._items.pop(key, None)
        while len(self._items) >= self.size:
            self._items.popitem(last=False)
        self._items[key] = (time.monotonic(), value)
