"""Marks ahead: one PUT each, and only while the runner knows itself alive."""

from slices_admin.bulk.marks import MarksAhead


def test_a_mark_ahead_stands_for_one_put_only():
    marks = MarksAhead(valid_for=60)
    marks.add({1, 2})
    assert marks.take(1)
    assert not marks.take(1)
    assert marks.drain() == [2]
    assert marks.drain() == []


def test_a_mark_ahead_does_not_stand_once_the_runner_may_have_been_given_up_for_dead():
    marks = MarksAhead(valid_for=0)  # the last heartbeat is always too old
    marks.add({1})
    assert not marks.take(1)
    assert marks.drain() == []  # taken off the list all the same: the thread marks it itself
