"""bounded_buffer: never more than capacity held, order kept, nothing accepted lost.

Virtual-time tests pin emissions, errors and upstream demand exactly; the thread tests at
the end are the only real-time ones, kept short.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import abc
from reactivex.scheduler import (
    CurrentThreadScheduler,
    EventLoopScheduler,
    ImmediateScheduler,
    NewThreadScheduler,
)
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest

import rx_backpressure as bp
from rx_backpressure import bounded_buffer
from rx_backpressure.core import (
    UNBOUNDED,
    BufferOverflowError,
    Flowable,
    Metrics,
    Subscriber,
    Subscription,
)
from rx_backpressure.testing import Demand, TestSubscriber, marbles, verify_flowable

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed

VIRTUAL = "bounded_buffer is full (2 held) and overflow='block' cannot wait: "


# -- a Flowable upstream: prefetch, then replenish in batches ------------------------


def test_flowable_upstream_is_asked_for_capacity_then_for_batches_as_items_leave() -> None:
    # capacity 4, batch 3: 4 up front; after 3 delivered ask for 3 more, twice. Held plus
    # outstanding never exceeds 4, so nothing ever overflows.
    with marbles() as m:
        source = m.pull("a-b-c-d-e-f-g-h-i-j-|")
        result = m.start(source.pipe(bounded_buffer(4)), demand="1--2------3----------*")
        assert result == m.exp("a--(b,c)--(d,e,f)----(g,h,i,j,|)")
        assert m.requests_of(source) == m.exp_requests("4--3------3")


def test_a_generator_is_never_read_more_than_capacity_items_ahead_of_delivery() -> None:
    with marbles() as m:
        ahead: list[int] = []

        def numbers() -> Iterator[int]:
            for i in range(20):
                assert m.subscriber is not None
                ahead.append(i + 1 - len(m.subscriber.values))
                yield i

        m.start(bp.from_iterable(numbers()).pipe(bounded_buffer(4)), demand="3---2---*")
    assert m.subscriber is not None
    assert m.subscriber.values == list(range(20))
    assert max(ahead) == 4


def test_a_flowable_that_ignores_demand_fails_with_the_reason() -> None:
    def subscribe(subscriber: Subscriber[int], _: abc.SchedulerBase | None) -> Subscription:
        class Ignored(Subscription):
            def request(self, n: int) -> None:
                pass

            def cancel(self) -> None:
                pass

        link = Ignored()
        subscriber.on_subscribe(link)
        for i in range(3):
            subscriber.on_next(i)
        return link

    subscriber: TestSubscriber[int] = TestSubscriber(0)
    bounded_buffer(2)(Flowable(subscribe)).subscribe(subscriber)
    assert subscriber.messages == []  # the error waits behind the two items held
    subscriber.request(5)
    assert subscriber.values == [0, 1]
    assert [str(e) for e in subscriber.errors] == [
        "bounded_buffer is full (2 held) and the Flowable upstream sent more than was requested"
    ]


# -- a push upstream: the overflow policies --------------------------------------------


def test_error_policy_fails_when_full_after_delivering_the_items_held() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        error = BufferOverflowError("bounded_buffer is full (2 held) and overflow='error'")
        result = m.start(source.pipe(bounded_buffer(2, overflow="error")), "1-------1-1--")
        assert result == m.exp("-a------b-(c,#)", error=error)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^------!")
    assert m.subscriber is not None
    assert isinstance(m.subscriber.errors[0], BufferOverflowError)


def test_block_policy_on_virtual_time_fails_at_once_and_says_why() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        error = BufferOverflowError(
            VIRTUAL + "the subscription runs on virtual time (TestScheduler)"
        )
        result = m.start(source.pipe(bounded_buffer(2)), demand="1-------1-1--")
        assert result == m.exp("-a------b-(c,#)", error=error)
        assert m.subscriptions_of(source) == m.exp_subscriptions("^------!")


def test_block_policy_fails_at_once_when_its_own_scheduler_is_virtual() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c-d-----")
        error = BufferOverflowError(
            VIRTUAL + "the subscription runs on virtual time (TestScheduler)"
        )
        operator = bounded_buffer(2, scheduler=m.scheduler)
        result = m.start(source.pipe(operator), demand="1-------1-1--")
        assert result == m.exp("-a------b-(c,#)", error=error)


def test_block_policy_fails_at_once_on_an_event_loops_thread_and_says_why() -> None:
    # A producer on the loop's own thread would freeze the loop, and with it every consumer
    # that could make room.
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)

    async def produce() -> None:
        subject: Subject[int] = Subject()
        subject.pipe(bounded_buffer(2)).subscribe(subscriber)
        for item in range(4):
            subject.on_next(item)

    asyncio.run(asyncio.wait_for(produce(), timeout=10))
    assert subscriber.values == [0]  # 1 and 2 held; 3 finds no room and may not wait
    assert len(subscriber.errors) == 0  # the error waits behind the held items
    subscriber.request(2)
    assert subscriber.values == [0, 1, 2]
    [error] = subscriber.errors
    assert isinstance(error, BufferOverflowError)
    assert "asyncio event loop's thread, which must never block" in str(error)


def test_items_that_fit_are_delivered_as_demand_comes_and_nothing_fails() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c---d-|")
        result = m.start(source.pipe(bounded_buffer(2)), demand="1-------2-------1")
        assert result == m.exp("-a------(b,c)---(d,|)")


def test_completion_waits_behind_the_items_held() -> None:
    with marbles() as m:
        source = m.hot("-a-b-c-|")
        result = m.start(source.pipe(bounded_buffer(3)), demand="1-------1---1")
        assert result == m.exp("-a------b---(c,|)")


def test_an_upstream_error_waits_behind_the_items_held() -> None:
    with marbles() as m:
        boom = ValueError("boom")
        source = m.hot("-a-b-#", error=boom)
        result = m.start(source.pipe(bounded_buffer(3)), demand="1-------1")
        assert result == m.exp("-a------(b,#)", error=boom)


def test_metrics_count_what_arrived_left_and_is_held() -> None:
    metrics = Metrics()
    with marbles() as m:
        source = m.pull("a-b-c-d-e-f-|")
        m.start(source.pipe(bounded_buffer(4, metrics=metrics)), demand="3")
    # 4 up front, 3 more once a..c left; e and f came, then completion; d..f held.
    # a..c go straight out as they arrive (demand 3); d is the first item held.
    assert metrics.snapshot() == {
        "requested": 7,
        "received": 6,
        "emitted": 3,
        "depth": 3,
        "peak_depth": 3,
    }


# -- delivery on a scheduler -----------------------------------------------------------


def test_a_scheduler_delivers_many_items_per_scheduled_action(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with marbles() as m:
        scheduled: list[float] = []
        schedule = m.scheduler.schedule

        def counting(action: Any, state: Any = None) -> abc.DisposableBase:
            scheduled.append(m.scheduler.clock)
            return schedule(action, state)

        monkeypatch.setattr(m.scheduler, "schedule", counting)
        source = m.hot("-(a,b,c,d,e)-----f-|")
        operator = bounded_buffer(8, scheduler=m.scheduler)
        result = m.start(source.pipe(operator), demand="2-----------*")
    assert result == [
        *(on_next(201, x) for x in "ab"),
        *(on_next(212, x) for x in "cde"),
        on_next(217, "f"),
        on_completed(219),
    ]
    # one action at subscription, one for a..e (two delivered), one for the demand at
    # 212 (three delivered), one each for f and the completion
    assert scheduled == [200, 201, 212, 217, 219]


# -- the rule suite and bad input ------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 3, 64])
def test_the_demand_rules_hold_over_from_iterable(capacity: int) -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(bounded_buffer(capacity)))


@pytest.mark.parametrize("overflow", ["block", "error"])
def test_the_demand_rules_hold_over_a_push_source_that_fits(overflow: Any) -> None:
    verify_flowable(
        lambda n: reactivex.from_iterable(range(n)).pipe(bounded_buffer(64, overflow=overflow))
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"capacity": 0}, ValueError, "capacity must be >= 1, got 0"),
        ({"capacity": 2.5}, TypeError, "capacity must be an int, got 2.5"),
        ({"capacity": True}, TypeError, "capacity must be an int, got True"),
        (
            {"capacity": 1, "overflow": "drop"},
            ValueError,
            "overflow must be 'block' or 'error', got 'drop'",
        ),
        ({"capacity": 1, "timeout": 0}, ValueError, "timeout must be > 0, got 0"),
        ({"capacity": 1, "timeout": -1.0}, ValueError, "got -1.0"),
        ({"capacity": 1, "timeout": float("inf")}, ValueError, "got inf"),
    ],
)
def test_bad_input_is_refused_at_construction_naming_it(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        bounded_buffer(**kwargs)


# -- property: random hot schedules and random demand ----------------------------------


def hot_diagram(frames: list[int]) -> str:
    """Items 0, 1, 2... (letters a, b, c...) at twice ``frames``, completing a frame later."""
    diagram = ["-"] * (2 * (frames[-1] if frames else 0) + 2)
    for item, frame in enumerate(frames):
        diagram[2 * frame] = chr(ord("a") + item)
    diagram[-1] = "|"
    return "".join(diagram)


LETTERS = {chr(ord("a") + i): i for i in range(26)}


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 4),
    overflow=st.sampled_from(["block", "error"]),
    frames=st.lists(st.integers(1, 30), max_size=12, unique=True).map(sorted),
    demand=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 3)), max_size=8),
)
def test_order_and_conservation_hold_and_nothing_exceeds_demand_or_capacity(
    capacity: int, overflow: Any, frames: list[int], demand: list[tuple[int, int]]
) -> None:
    metrics = Metrics()
    items = list(range(len(frames)))
    total_demand = sum(n for _, n in demand)
    gaps: list[float] = []
    with marbles() as m:
        source = m.hot(hot_diagram(frames), LETTERS)
        for frame in range(64):  # between signals, at every frame
            m.scheduler.schedule_absolute(
                m.time(frame) + 0.5,
                lambda *_: gaps.append(
                    metrics.get("received") - metrics.get("emitted") - metrics.get("depth")
                ),
            )
        plan = Demand([(m.time(frame), n) for frame, n in sorted(demand)])
        m.start(source.pipe(bounded_buffer(capacity, overflow=overflow, metrics=metrics)), plan)
    subscriber = m.subscriber
    assert subscriber is not None
    values = subscriber.values
    assert values == items[: len(values)]  # in order, nothing skipped or repeated
    assert len(values) <= total_demand
    assert metrics.get("peak_depth") <= capacity
    # received = emitted + held, plus the one item refused once the buffer failed
    assert gaps == sorted(gaps)
    assert set(gaps) <= {0, 1}
    held = metrics.get("depth")
    if gaps and gaps[-1] == 1:
        assert len(values) == metrics.get("received") - 1 - held
        assert not subscriber.completed
        if held:
            assert subscriber.errors == []  # the error waits behind the items held
        else:
            assert isinstance(subscriber.errors[0], BufferOverflowError)
    else:
        assert subscriber.errors == []
        assert len(values) == min(total_demand, len(items))
        assert subscriber.completed == (total_demand >= len(items))


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 6),
    count=st.integers(0, 30),
    demand=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 5)), max_size=8),
)
def test_a_pull_source_is_never_asked_beyond_capacity_ahead_of_delivery(
    capacity: int, count: int, demand: list[tuple[int, int]]
) -> None:
    metrics = Metrics()
    ahead: list[float] = []
    with marbles() as m:
        source = m.pull(range(count))
        for frame in range(22):
            m.scheduler.schedule_absolute(
                m.time(frame) + 0.5,
                lambda *_: ahead.append(metrics.get("requested") - metrics.get("emitted")),
            )
        plan = Demand([(m.time(frame), n) for frame, n in sorted(demand)])
        m.start(source.pipe(bounded_buffer(capacity, metrics=metrics)), plan)
    assert m.subscriber is not None
    total_demand = sum(n for _, n in demand)
    assert m.subscriber.values == list(range(min(count, total_demand)))
    assert max(ahead) <= capacity
    assert metrics.get("peak_depth") <= capacity


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 5),
    count=st.integers(0, 30),
    initial=st.integers(0, 8),
    later=st.integers(0, 40),
)
def test_a_source_that_pushes_everything_on_subscribe_fills_then_fails_as_if_item_by_item(
    capacity: int, count: int, initial: int, later: int
) -> None:
    # Taken in batches inside the subscribe call, the items must still be accepted exactly
    # as one at a time would: the first ``initial`` pass, ``capacity`` more are held, and
    # the next one fails the buffer, behind the held items.
    with marbles() as m:
        source = reactivex.from_iterable(range(count), scheduler=ImmediateScheduler())
        plan = [(m.time(0), initial), (m.time(1), later)]
        m.start(
            source.pipe(bounded_buffer(capacity, overflow="error")),
            Demand([(t, n) for t, n in plan if n]),
        )
    assert m.subscriber is not None
    accepted = min(count, initial + capacity)
    assert m.subscriber.values == list(range(min(accepted, initial + later)))
    overflowed = count > initial + capacity
    finished = initial + later >= accepted
    assert m.subscriber.completed == (finished and not overflowed)
    assert len(m.subscriber.errors) == (1 if finished and overflowed else 0)


# -- the producer would wait forever: fail at once, saying why ---------------------------


class PushBack(TestSubscriber[str]):
    """Pushes two more items into ``subject`` from inside its first delivery."""

    def __init__(self, subject: Subject[str], demand: int = 1) -> None:
        super().__init__(demand)
        self.subject = subject

    def on_next(self, value: str) -> None:
        super().on_next(value)
        if value == "a":
            self.subject.on_next("b")  # held: no demand is left
            self.subject.on_next("c")  # no room, and only this thread could make some


def test_a_producer_inside_a_delivery_fails_at_once() -> None:
    subject: Subject[str] = Subject()
    subscriber = PushBack(subject)
    bounded_buffer(1)(subject).subscribe(subscriber)
    subject.on_next("a")
    assert subscriber.values == ["a"]
    assert subscriber.errors == []  # it waits behind b
    subscriber.request(1)
    assert subscriber.values == ["a", "b"]
    assert [str(e) for e in subscriber.errors] == [
        "bounded_buffer is full (1 held) and overflow='block' cannot wait: on_next was "
        "called from inside a delivery, by the thread that makes room"
    ]
    assert not subject.observers  # upstream was disposed


def test_a_producer_inside_an_unbounded_delivery_fails_at_once() -> None:
    # Under unbounded demand "a" goes through on the unlocked direct path, which records no
    # owner thread: the buffer finds the delivery on the producer's own stack instead.
    subject: Subject[str] = Subject()
    subscriber = PushBack(subject, demand=UNBOUNDED)
    bounded_buffer(1, timeout=5)(subject).subscribe(subscriber)  # a wait would end
    subject.on_next("a")
    assert subscriber.values == ["a", "b"]  # b, held during a's delivery, went next
    assert [str(e) for e in subscriber.errors] == [
        "bounded_buffer is full (1 held) and overflow='block' cannot wait: on_next was "
        "called from inside a delivery, by the thread that makes room"
    ]
    assert not subject.observers  # upstream was disposed


def test_a_producer_on_the_buffers_own_event_loop_thread_fails_at_once() -> None:
    loop = EventLoopScheduler()
    try:
        subject: Subject[str] = Subject()
        subscriber: TestSubscriber[str] = TestSubscriber(0)
        bounded_buffer(1, scheduler=loop)(subject).subscribe(subscriber)
        pushed = threading.Event()

        def produce(_: abc.SchedulerBase, __: Any = None) -> None:
            subject.on_next("a")
            subject.on_next("b")
            pushed.set()

        loop.schedule(produce)
        assert pushed.wait(5)
        subscriber.request(1)
        assert subscriber.await_terminal(5)
    finally:
        loop.dispose()
    assert subscriber.values == ["a"]
    assert [str(e) for e in subscriber.errors] == [
        "bounded_buffer is full (1 held) and overflow='block' cannot wait: the producer "
        "runs on the event loop thread that delivers this buffer"
    ]


def test_a_producer_inside_the_delivering_trampoline_fails_at_once() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    trampoline = CurrentThreadScheduler.singleton()
    source = reactivex.from_iterable([1, 2, 3], scheduler=trampoline)
    bounded_buffer(1, scheduler=trampoline)(source).subscribe(subscriber)
    subscriber.request(5)
    assert subscriber.values == [1]
    assert [str(e) for e in subscriber.errors] == [
        "bounded_buffer is full (1 held) and overflow='block' cannot wait: the producer "
        "runs inside the trampoline that delivers this buffer"
    ]


# -- real threads ----------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def leftover_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads started since ``before`` still running after a grace period to finish."""

    def new() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t not in before and t.is_alive()}

    wait_until(lambda: not new())
    return new()


def test_block_with_a_timeout_fails_after_the_items_held() -> None:
    subject: Subject[str] = Subject()
    subscriber: TestSubscriber[str] = TestSubscriber(0)
    bounded_buffer(2, timeout=0.05)(subject).subscribe(subscriber)
    subject.on_next("a")
    subject.on_next("b")
    started = time.monotonic()
    subject.on_next("c")  # waits 0.05 s for room that never comes, then gives up
    assert time.monotonic() - started >= 0.04
    assert subscriber.messages == []  # a and b go first
    assert not subject.observers
    subscriber.request(5)
    assert subscriber.values == ["a", "b"]
    assert [str(e) for e in subscriber.errors] == [
        "bounded_buffer is full (2 held) and overflow='block' cannot wait: no room came "
        "within timeout=0.05s"
    ]


def test_a_blocked_producer_resumes_when_demand_comes_from_another_thread() -> None:
    subject: Subject[int] = Subject()
    metrics = Metrics()
    subscriber: TestSubscriber[int] = TestSubscriber(0)
    bounded_buffer(2, metrics=metrics)(subject).subscribe(subscriber)

    def produce() -> None:
        for i in range(10):
            subject.on_next(i)
        subject.on_completed()

    producer = threading.Thread(target=produce)
    producer.start()
    assert wait_until(lambda: metrics.get("received") == 3)  # 0 and 1 held, 2 waiting
    assert subscriber.values == []
    subscriber.request(10)
    producer.join(5)
    assert not producer.is_alive()
    assert subscriber.values == list(range(10))
    assert subscriber.completed
    assert metrics.get("peak_depth") == 2


def test_dispose_releases_a_blocked_producer() -> None:
    subject: Subject[str] = Subject()
    metrics = Metrics()
    subscriber: TestSubscriber[str] = TestSubscriber(0)
    bounded_buffer(1, metrics=metrics)(subject).subscribe(subscriber)

    def produce() -> None:
        subject.on_next("a")
        subject.on_next("b")

    producer = threading.Thread(target=produce)
    producer.start()
    assert wait_until(lambda: metrics.get("received") == 2)  # a held, b waiting for room
    subscriber.cancel()
    producer.join(5)
    assert not producer.is_alive()
    assert subscriber.messages == []
    assert not subject.observers


class SlowConsumer:
    """Requests ``batch`` at a time, dawdles every 500 items; may cancel after ``stop_after``."""

    def __init__(self, batch: int, stop_after: int | None = None) -> None:
        self.batch = batch
        self.left = batch
        self.stop_after = stop_after
        self.items: list[tuple[int, int]] = []
        self.errors: list[Exception] = []
        self.completed = False
        self.overlapped = False
        self.done = threading.Event()
        self.subscription: Subscription | None = None
        self._busy = threading.Lock()

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        subscription.request(self.batch)

    def on_next(self, value: tuple[int, int]) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlapped = True  # rule 1.3: signals never overlap
            return
        try:
            self.items.append(value)
            if len(self.items) % 500 == 0:
                time.sleep(0.0005)
            assert self.subscription is not None
            if len(self.items) == self.stop_after:
                self.subscription.cancel()
                self.done.set()
                return
            self.left -= 1
            if self.left == 0:
                self.left = self.batch
                self.subscription.request(self.batch)
        finally:
            self._busy.release()

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)
        self.done.set()

    def on_completed(self) -> None:
        self.completed = True
        self.done.set()


def run_producers(
    subject: Subject[tuple[int, int]], producers: int, each: int
) -> list[threading.Thread]:
    def produce(k: int) -> None:
        for i in range(each):
            subject.on_next((k, i))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    for thread in threads:
        thread.start()
    return threads


def per_producer(items: list[tuple[int, int]], producers: int) -> list[list[int]]:
    return [[i for k, i in items if k == p] for p in range(producers)]


def test_four_producer_threads_deliver_every_item_once_in_each_producers_order() -> None:
    before = set(threading.enumerate())
    subject: Subject[tuple[int, int]] = Subject()
    metrics = Metrics()
    consumer = SlowConsumer(batch=64)
    loop = EventLoopScheduler()
    operator = bounded_buffer(100, scheduler=loop, metrics=metrics)
    operator(subject).subscribe(consumer)
    threads = run_producers(subject, producers=4, each=50_000)
    for thread in threads:
        thread.join(30)
    subject.on_completed()
    assert consumer.done.wait(30)
    loop.dispose()  # the scheduler's thread is the caller's to end; the buffer starts none
    assert consumer.completed
    assert not consumer.errors
    assert not consumer.overlapped
    assert len(consumer.items) == 200_000
    assert per_producer(consumer.items, 4) == [list(range(50_000))] * 4
    assert metrics.get("peak_depth") <= 100
    assert metrics.get("received") == 200_000 == metrics.get("emitted")
    assert leftover_threads(before) == set()


def test_cancel_midway_releases_the_producers_and_leaves_no_thread_running() -> None:
    before = set(threading.enumerate())
    subject: Subject[tuple[int, int]] = Subject()
    metrics = Metrics()
    consumer = SlowConsumer(batch=64, stop_after=20_000)
    operator = bounded_buffer(100, scheduler=NewThreadScheduler(), metrics=metrics)
    operator(subject).subscribe(consumer)
    threads = run_producers(subject, producers=4, each=50_000)
    assert consumer.done.wait(30)
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(consumer.items) == 20_000  # cancel inside on_next stops at once
    assert len(set(consumer.items)) == 20_000
    for sequence in per_producer(consumer.items, 4):
        assert sequence == list(range(len(sequence)))
    assert metrics.get("peak_depth") <= 100
    assert not subject.observers
    assert leftover_threads(before) == set()
