"""The order a runner's threads send items in: threads and a clock, no database, no sandbox."""

import threading
import time

from slices_admin.bulk.schedule import Schedule


def claims(*batches: list[int]):
    """A claim that hands out these batches in turn, then nothing."""
    left = list(batches)
    return lambda: left.pop(0) if left else []


def drain(schedule: Schedule, stop: threading.Event) -> list[int]:
    taken = []
    while (item := schedule.take(stop)) is not None:
        taken.append(item)
        schedule.done()
    return taken


def test_items_come_in_the_order_claimed_until_a_claim_finds_nothing():
    assert drain(Schedule(claims([1, 2], [3])), threading.Event()) == [1, 2, 3]


def test_an_item_put_back_comes_again_after_its_delay_and_items_due_now_go_first():
    schedule, stop = Schedule(claims([1, 2])), threading.Event()
    assert schedule.take(stop) == 1
    began = time.monotonic()
    schedule.later(1, 0.2)
    assert schedule.take(stop) == 2
    schedule.done()
    assert schedule.take(stop) == 1
    assert time.monotonic() - began >= 0.2
    schedule.done()
    assert schedule.take(stop) is None


def test_nothing_is_over_while_an_item_taken_is_not_done():
    schedule, stop = Schedule(claims([1])), threading.Event()
    assert schedule.take(stop) == 1
    waiting = threading.Thread(target=lambda: schedule.take(stop))
    waiting.start()
    waiting.join(timeout=0.3)
    assert waiting.is_alive()  # item 1 may still come back
    schedule.done()
    waiting.join(timeout=2)
    assert not waiting.is_alive()


def test_a_stop_ends_the_waiting_at_once():
    schedule, stop = Schedule(claims([1])), threading.Event()
    assert schedule.take(stop) == 1
    schedule.later(1, 60)
    taken = []
    waiting = threading.Thread(target=lambda: taken.append(schedule.take(stop)))
    waiting.start()
    stop.set()
    schedule.wake()
    waiting.join(timeout=2)
    assert taken == [None]


def test_items_put_back_in_line_are_claimed_after_the_claims_ran_dry():
    schedule, stop = Schedule(claims([1], [], [2])), threading.Event()
    assert drain(schedule, stop) == [1]
    schedule.replenish()  # a dead runner's items came back
    assert drain(schedule, stop) == [2]


def test_a_failed_claim_is_tried_again_rather_than_ending_the_work():
    calls = []

    def claim() -> list[int]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the database went away")
        return [7] if len(calls) == 2 else []

    assert drain(Schedule(claim), threading.Event()) == [7]


def test_threads_share_the_items_and_claim_one_at_a_time():
    claiming, most = [0], [0]
    batches = [list(range(n, n + 10)) for n in range(0, 100, 10)]

    def claim() -> list[int]:
        claiming[0] += 1
        most[0] = max(most[0], claiming[0])
        time.sleep(0.01)
        claiming[0] -= 1
        return batches.pop(0) if batches else []

    schedule, stop, taken = Schedule(claim), threading.Event(), []
    threads = [threading.Thread(target=lambda: taken.extend(drain(schedule, stop))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(taken) == list(range(100)) and most == [1]
