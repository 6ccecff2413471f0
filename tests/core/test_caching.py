"""The per-process time-limited cache: a value is reused until it is `max_age` old, then computed again; at most
`size` values are kept, the one used longest ago forgotten first; concurrent callers share one computation."""

import threading
import time

from slices_admin.core import caching
from slices_admin.core.caching import TimeLimitedCache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_value_is_reused_until_it_is_max_age_old(monkeypatch):
    clock, calls = Clock(), []
    monkeypatch.setattr(caching, "time", clock)
    cache = TimeLimitedCache()
    assert cache.get_or_compute("k", 5, lambda: calls.append(1) or "first") == "first"
    clock.now += 4.9
    assert cache.get_or_compute("k", 5, lambda: calls.append(1) or "second") == "first"
    clock.now += 0.1
    assert cache.get_or_compute("k", 5, lambda: calls.append(1) or "second") == "second"
    assert len(calls) == 2


def test_a_stored_none_is_a_value_not_a_miss():
    cache, calls = TimeLimitedCache(), []
    assert cache.get_or_compute("k", 60, lambda: calls.append(1)) is None
    assert cache.get_or_compute("k", 60, lambda: calls.append(1)) is None
    assert calls == [1]


def test_get_answers_the_default_for_a_missing_or_old_value(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(caching, "time", clock)
    cache = TimeLimitedCache()
    assert cache.get("k", 5, default="none") == "none"
    cache.put("k", "v")
    assert cache.get("k", 5) == "v"
    clock.now += 5
    assert cache.get("k", 5) is None


def test_the_value_used_longest_ago_is_forgotten_first_when_full():
    cache = TimeLimitedCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a", 60) == 1  # "a" used last: "b" goes first
    cache.put("c", 3)
    assert (cache.get("a", 60), cache.get("b", 60), cache.get("c", 60)) == (1, None, 3)


def test_clear_forgets_everything():
    cache = TimeLimitedCache()
    cache.put("k", "v")
    cache.clear()
    assert cache.get("k", 60) is None


def test_concurrent_callers_wait_for_the_one_computation_in_flight():
    cache, calls = TimeLimitedCache(), []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "answer"

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get_or_compute("k", 60, slow))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["answer"] * 5 and calls == [1]
