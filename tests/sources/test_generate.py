"""generate: one step per requested item, on the requesting thread, nothing read ahead."""

from __future__ import annotations

import contextlib

import pytest
from conftest import ask_from_threads, upto
from reactivex import operators as ops

import rx_backpressure as bp
from rx_backpressure import Emitter1, generate
from rx_backpressure.testing import TestSubscriber, marbles, verify_flowable


def test_passes_the_rule_suite() -> None:
    verify_flowable(upto)


def test_passes_the_rule_suite_when_the_end_takes_a_call_of_its_own() -> None:
    def factory(n: int) -> bp.Flowable[int]:
        def step(state: int, emitter: Emitter1[int]) -> int:
            if state == n:
                emitter.complete()
            else:
                emitter.next(state)
            return state + 1

        return generate(0, step)

    verify_flowable(factory)


def test_one_step_per_item_requested_on_virtual_time() -> None:
    calls: list[int] = []
    with marbles() as m:
        result = m.start(lambda: upto(3, calls), demand="2-----1---1---")
        assert result == m.exp("(0,1)-(2,|)")
    assert calls == [0, 1, 2]


def test_the_end_in_a_call_of_its_own_comes_with_the_next_request() -> None:
    def step(state: int, emitter: Emitter1[int]) -> int:
        if state == 3:
            emitter.complete()
        else:
            emitter.next(state)
        return state + 1

    with marbles() as m:
        result = m.start(generate(0, step), demand="2-----1---1---")
        assert result == m.exp("(0,1)-2---|")


def test_nothing_is_read_ahead_of_demand() -> None:
    calls: list[int] = []
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    upto(100, calls).subscribe(subscriber)
    assert calls == []
    subscriber.request(3)
    assert calls == [0, 1, 2]
    subscriber.request(2)
    assert calls == [0, 1, 2, 3, 4]
    assert subscriber.values == [0, 1, 2, 3, 4]


def test_a_step_that_gives_nothing_is_followed_by_another() -> None:
    # A paged cursor: state is (page, position); an empty page moves on without an item.
    pages = [[1, 2], [], [3], []]

    def step(state: tuple[int, int], emitter: Emitter1[int]) -> tuple[int, int]:
        page, position = state
        if page == len(pages):
            emitter.complete()
            return state
        if position == len(pages[page]):
            return page + 1, 0
        emitter.next(pages[page][position])
        return page, position + 1

    subscriber: TestSubscriber[int] = TestSubscriber(3)
    generate((0, 0), step).subscribe(subscriber)
    assert subscriber.values == [1, 2, 3]
    assert not subscriber.completed
    subscriber.request(1)
    assert subscriber.completed


def test_each_subscription_starts_from_the_initial_state() -> None:
    flow = upto(3)
    assert [list(bp.to_iterable(flow)) for _ in range(2)] == [[0, 1, 2], [0, 1, 2]]


def test_a_step_that_raises_fails_the_stream_after_its_item() -> None:
    boom = RuntimeError("step")

    def step(state: int, emitter: Emitter1[int]) -> int:
        emitter.next(state)
        if state == 1:
            raise boom
        return state + 1

    subscriber: TestSubscriber[int] = TestSubscriber()
    generate(0, step).subscribe(subscriber)
    assert subscriber.values == [0, 1]
    assert subscriber.errors == [boom]


def test_error_ends_the_stream_after_the_calls_item() -> None:
    boom = RuntimeError("done badly")

    def step(state: int, emitter: Emitter1[int]) -> int:
        emitter.next(state)
        emitter.error(boom)
        return state

    subscriber: TestSubscriber[int] = TestSubscriber()
    generate(0, step).subscribe(subscriber)
    assert subscriber.values == [0]
    assert subscriber.errors == [boom]


def test_a_second_next_in_one_call_fails_the_stream_even_if_the_step_catches_it() -> None:
    def step(state: int, emitter: Emitter1[int]) -> int:
        emitter.next(state)
        with contextlib.suppress(RuntimeError):
            emitter.next(state + 100)
        return state + 1

    subscriber: TestSubscriber[int] = TestSubscriber()
    generate(0, step).subscribe(subscriber)
    assert subscriber.values == [0]
    assert isinstance(subscriber.errors[0], RuntimeError)
    assert "next twice in one call" in str(subscriber.errors[0])


def test_the_emitter_refuses_calls_outside_the_step() -> None:
    kept: list[Emitter1[int]] = []

    def step(state: int, emitter: Emitter1[int]) -> int:
        kept.append(emitter)
        emitter.next(state)
        return state + 1

    subscriber: TestSubscriber[int] = TestSubscriber(1)
    generate(0, step).subscribe(subscriber)
    (emitter,) = kept
    with pytest.raises(RuntimeError, match="outside the step's call"):
        emitter.next(5)
    with pytest.raises(RuntimeError, match="outside the step's call"):
        emitter.complete()
    with pytest.raises(RuntimeError, match="outside the step's call"):
        emitter.error(ValueError())
    assert subscriber.values == [0]


def test_error_refuses_what_is_not_an_exception() -> None:
    def step(state: int, emitter: Emitter1[int]) -> int:
        emitter.error("oops")  # type: ignore[arg-type]
        return state

    subscriber: TestSubscriber[int] = TestSubscriber()
    generate(0, step).subscribe(subscriber)
    assert isinstance(subscriber.errors[0], TypeError)
    assert "error must be an Exception, got 'oops'" in str(subscriber.errors[0])


def test_cancel_from_on_next_stops_the_steps_at_once() -> None:
    calls: list[int] = []
    flow = upto(100, calls).pipe(ops.take(3))
    assert list(bp.to_iterable(flow)) == [0, 1, 2]
    assert calls == [0, 1, 2]


def test_requests_from_several_threads_get_every_item_once_in_order() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    upto(3_000).subscribe(subscriber)

    ask_from_threads(subscriber, threads=3, times=1_000)
    assert subscriber.await_terminal(30)
    subscriber.assert_no_violations()
    assert subscriber.values == list(range(3_000))
    assert subscriber.completed
