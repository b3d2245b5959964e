"""from_iterable reads its iterator only as far as demand reaches."""

from __future__ import annotations

from collections.abc import Iterator

import rx_backpressure as bp
from rx_backpressure.testing import TestSubscriber, marbles


class Counting:
    """A generator wrapper that records how far it was read and whether it was closed."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read: list[int] = []
        self.closed = False

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.count):
                self.read.append(i)
                yield i
        finally:
            self.closed = True


def test_next_is_called_only_for_outstanding_demand() -> None:
    source = Counting(100)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
    bp.from_iterable(iter(source)).subscribe(subscriber)
    assert source.read == [0, 1, 2]
    subscriber.request(2)
    assert source.read == [0, 1, 2, 3, 4]
    assert subscriber.values == [0, 1, 2, 3, 4]


def test_a_generator_completes_with_the_request_after_its_last_item() -> None:
    source = Counting(3)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
    bp.from_iterable(iter(source)).subscribe(subscriber)
    assert subscriber.values == [0, 1, 2]
    assert not subscriber.completed
    subscriber.request(1)
    assert subscriber.completed
    assert subscriber.values == [0, 1, 2]


def test_a_sequence_of_known_length_completes_right_after_its_last_item() -> None:
    for sequence in ([1, 2, 3], (1, 2, 3), range(1, 4)):
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
        bp.from_iterable(sequence).subscribe(subscriber)
        assert subscriber.values == [1, 2, 3]
        assert subscriber.completed


def test_an_exception_from_the_iterator_goes_to_on_error_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ArithmeticError("third item")

    subscriber: TestSubscriber[int] = TestSubscriber()
    bp.from_iterable(failing()).subscribe(subscriber)
    assert subscriber.values == [1, 2]
    assert [str(e) for e in subscriber.errors] == ["third item"]


def test_cancel_closes_the_generator() -> None:
    source = Counting(100)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
    bp.from_iterable(iter(source)).subscribe(subscriber)
    assert not source.closed
    subscriber.cancel()
    assert source.closed
    assert source.read == [0, 1]


def test_cancel_from_inside_on_next_stops_before_the_next_read() -> None:
    source = Counting(100)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    bp.from_iterable(iter(source)).subscribe(subscriber)
    original = subscriber.on_next

    def cancel_at_three(value: int) -> None:
        original(value)
        if value == 3:
            subscriber.cancel()

    subscriber.on_next = cancel_at_three  # type: ignore[method-assign]
    subscriber.request(50)
    assert source.read == [0, 1, 2, 3]
    assert source.closed


def test_each_subscription_iterates_afresh() -> None:
    flowable = bp.from_iterable([1, 2])
    first: list[int] = []
    second: list[int] = []
    flowable.subscribe(first.append)
    flowable.subscribe(second.append)
    assert first == second == [1, 2]


def test_pull_reads_on_the_requesting_thread_in_virtual_time() -> None:
    with marbles() as m:
        source = Counting(10)
        results = m.start(lambda: bp.from_iterable(iter(source)), demand="2----1--1")
        assert results == m.exp("(0,1)2--3")
        assert source.read == [0, 1, 2, 3]
