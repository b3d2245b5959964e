"""A request made by the loop's owner during its own pass (``Drain.request``).

A pull source (``from_iterable``, ``generate``) reads demand only as its ``_emit``'s
limit. When downstream asks for more from inside ``on_next``, on the thread that runs the
source's loop, the request is noted without the lock (``_owner_asked``) and the source
goes on serving it in the same call: a stop-and-wait reader (``request(1)`` per item) is
served by one ``_emit`` call, not one pass of the loop per item. Demand from other threads
still takes the lock and marks the loop. Switched off (``--without asks``), every
behaviour here holds the same, save the pins marked ``needs("asks")``.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import CountingLock, ask_from_threads, upto

import rx_backpressure as bp
from rx_backpressure.core import RUN, UNBOUNDED, Drain, Subscription
from rx_backpressure.testing import TestSubscriber, marbles


class StopAndWait:
    """Asks for one item in ``on_subscribe`` and one more from each ``on_next``, while
    ``more(count)`` says so (count: items seen so far, this one included)."""

    def __init__(self, more: Callable[[int], bool] = lambda count: True) -> None:
        self.more = more
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.completed = False
        self.subscription: Subscription | None = None
        self.before_first: Callable[[Subscription], None] | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        if self.before_first is not None:
            self.before_first(subscription)
        subscription.request(1)

    def on_next(self, value: Any) -> None:
        self.values.append(value)
        if self.more(len(self.values)):
            assert self.subscription is not None
            self.subscription.request(1)

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def on_completed(self) -> None:
        self.completed = True


SOURCES: dict[str, Callable[[int], bp.Flowable[int]]] = {
    "from_iterable(range)": lambda n: bp.from_iterable(range(n)),
    "from_iterable(generator)": lambda n: bp.from_iterable(iter(range(n))),
    "generate": upto,
}


@contextlib.contextmanager
def turns_often() -> Iterator[None]:
    """Threads take turns every 10 µs, mid-item, while the block runs."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def subscribed_on_a_thread(source: bp.Flowable[int], reader: StopAndWait) -> threading.Thread:
    """A started thread that subscribes ``reader`` to ``source`` (and so runs its loop);
    a daemon, so that a test that fails with it stuck still ends."""
    thread = threading.Thread(target=lambda: source.subscribe(reader), daemon=True)
    thread.start()
    return thread


@pytest.mark.needs("asks")
@pytest.mark.parametrize("name", list(SOURCES))
def test_a_stop_and_wait_reader_is_served_in_one_call_without_the_lock(name: str) -> None:
    # Lock round trips: the first request (from on_subscribe, before any pass), the pass's
    # own demand update, and the end. The 999 requests made from on_next take none.
    # (A generator's end takes a read of its own, on the last item's request.)
    locks: list[CountingLock] = []

    def count_locks(subscription: Subscription) -> None:
        assert isinstance(subscription, Drain)
        lock = CountingLock(subscription._lock)
        subscription._lock = lock  # type: ignore[assignment]
        locks.append(lock)

    reader = StopAndWait()
    reader.before_first = count_locks
    calls = 0
    original = Drain._pass

    def counted_pass(self: Drain[Any, Any]) -> object:
        nonlocal calls
        calls += 1
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Drain, "_pass", counted_pass)
        SOURCES[name](1000).subscribe(reader)
    assert reader.values == list(range(1000))
    assert reader.completed
    assert reader.errors == []
    assert locks[0].taken == 3
    assert calls == 1


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_stop_and_wait_reader_gets_exactly_what_it_asks_for(name: str) -> None:
    reader = StopAndWait(more=lambda count: count < 10)  # asks for 10 in all, one by one
    SOURCES[name](100).subscribe(reader)
    assert reader.values == list(range(10))
    assert not reader.completed
    assert reader.subscription is not None
    snapshot = reader.subscription._inspect_stage()  # type: ignore[attr-defined]
    assert (snapshot.emitted, snapshot.demand) == (10, 0)
    reader.subscription.request(2)  # from outside a pass: under the lock, as ever
    assert reader.values == list(range(12))


def test_a_generator_is_read_only_as_far_as_the_asks_reach() -> None:
    read: list[int] = []
    closed: list[bool] = []

    def numbers() -> Iterator[int]:
        try:
            for number in itertools.count():
                read.append(number)
                yield number
        finally:
            closed.append(True)

    reader = StopAndWait(more=lambda count: count < 7)
    bp.from_iterable(numbers()).subscribe(reader)
    assert reader.values == read == list(range(7))
    assert closed == []
    assert reader.subscription is not None
    reader.subscription.cancel()
    assert closed == [True]


def test_generate_steps_once_per_item_asked() -> None:
    calls: list[int] = []
    reader = StopAndWait(more=lambda count: count < 5)
    upto(100, calls).subscribe(reader)
    assert reader.values == calls == list(range(5))


def test_asks_made_on_the_owners_thread_with_more_than_one_item_outstanding() -> None:
    # A reader that asks for 3 from every third item: the limit of the pass is 3, and each
    # ask comes in while the last of them is handed on.
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
    original = subscriber.on_next

    def on_next(value: int) -> None:
        original(value)
        if value % 3 == 2 and value < 20:
            subscriber.request(3)

    subscriber.on_next = on_next  # type: ignore[method-assign]
    bp.from_iterable(range(100)).subscribe(subscriber)
    assert subscriber.values == list(range(21))  # 3, and 3 more from each of 2, 5, ..., 17
    subscriber.assert_no_violations()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("from_iterable(range)", "0--1-2--(3,4,|)"),  # a known length ends with its last item
        ("from_iterable(generator)", "0--1-2--(3,4)"),  # the end comes with the next request
        ("generate", "0--1-2--(3,4,|)"),  # this step ends it with its last item
    ],
)
def test_on_virtual_time_demand_in_the_diagram_is_met_exactly(name: str, expected: str) -> None:
    with marbles() as m:
        result = m.start(lambda: SOURCES[name](5), demand="1--1-1--2")
        assert result == m.exp(expected)


@pytest.mark.parametrize("where", ["iterator", "on_next"])
def test_a_failure_after_some_items_counts_what_was_handed_on(where: str) -> None:
    def numbers() -> Iterator[int]:
        yield from range(5)
        raise ArithmeticError("sixth read")

    def failing_on(value: int) -> bool:
        if where == "on_next" and value == 3:
            raise LookupError("fourth item")
        return True

    errors: list[Exception] = []
    seen: list[int] = []

    class Reader(StopAndWait):
        def on_next(self, value: Any) -> None:
            seen.append(value)
            failing_on(value)
            assert self.subscription is not None
            self.subscription.request(1)

        def on_error(self, error: Exception) -> None:
            errors.append(error)

    reader = Reader()
    bp.from_iterable(numbers()).subscribe(reader)
    assert reader.subscription is not None
    snapshot = reader.subscription._inspect_stage()  # type: ignore[attr-defined]
    if where == "iterator":
        assert seen == [0, 1, 2, 3, 4]
        assert [str(error) for error in errors] == ["sixth read"]
        assert snapshot.emitted == 5
    else:
        assert seen == [0, 1, 2, 3]
        assert [str(error) for error in errors] == ["fourth item"]
        assert snapshot.emitted == 4  # handed on, the refused one included


@pytest.mark.parametrize("name", list(SOURCES))
def test_asks_from_the_owner_and_requests_from_other_threads_add_up_exactly(name: str) -> None:
    # The reader asks for one more from each of its first 3,000 items, on whichever thread
    # runs the loop at the time; four other threads request 1 item 500 times each, at once.
    # Every item asked for by anyone is delivered, one at a time, and not one more.
    guard = threading.Lock()
    overlaps: list[int] = []
    values: list[int] = []
    subscription: list[Subscription] = []

    class Reader(StopAndWait):
        def on_next(self, value: Any) -> None:
            if not guard.acquire(blocking=False):
                overlaps.append(value)
                return
            values.append(value)
            asks = len(values) <= 3000
            guard.release()
            if asks:
                subscription[0].request(1)

    started = threading.Event()

    def first_request(given: Subscription) -> None:
        subscription.append(given)
        started.set()  # the other threads ask from now on, while the reader asks too

    reader = Reader()
    reader.before_first = first_request
    with turns_often():
        owner = subscribed_on_a_thread(SOURCES[name](100_000), reader)
        assert started.wait(10)
        ask_from_threads(subscription[0], threads=4, times=500)
        owner.join(30)
        assert not owner.is_alive()
    assert overlaps == []
    assert values == list(range(1 + 3000 + 2000))
    snapshot = subscription[0]._inspect_stage()  # type: ignore[attr-defined]
    assert (snapshot.emitted, snapshot.demand) == (5001, 0)


@pytest.mark.parametrize("name", list(SOURCES))
def test_requests_from_other_threads_during_a_stop_and_wait_pass_add_up_exactly(
    name: str,
) -> None:
    # The same, but the other threads ask while the reader's own asks keep the loop busy.
    values: list[int] = []
    subscription: list[Subscription] = []
    inside = threading.Event()
    let_go = threading.Event()

    class Reader(StopAndWait):
        def on_next(self, value: Any) -> None:
            values.append(value)
            if len(values) == 10:
                inside.set()
                assert let_go.wait(10)  # the other threads' requests land now
            if len(values) <= 20_000:
                subscription[0].request(1)

    reader = Reader()
    reader.before_first = subscription.append
    try:
        with turns_often():
            owner = subscribed_on_a_thread(SOURCES[name](1_000_000), reader)
            assert inside.wait(10)
            askers = threading.Thread(
                target=lambda: ask_from_threads(subscription[0], threads=4, times=250)
            )
            askers.start()
            askers.join(30)
            assert not askers.is_alive()
            # Their demand went in under the lock, not as the owner's: the owner's nine
            # asks (from items 0..8) wait for the end of its call, unless the path is off.
            source = subscription[0]
            assert isinstance(source, Drain)
            asked = 9 if Drain._unlocked_asks else 0
            assert (source._requested, source._owner_asked) == (1 + 1000, asked)
            let_go.set()
            owner.join(30)
            assert not owner.is_alive()
    finally:
        let_go.set()
    assert values == list(range(1 + 20_000 + 1000))


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_cancel_from_another_thread_stops_a_reader_that_never_stops_asking(name: str) -> None:
    values: list[int] = []
    enough = threading.Event()

    class Reader(StopAndWait):
        def on_next(self, value: Any) -> None:
            values.append(value)
            if len(values) == 1000:
                enough.set()
            assert self.subscription is not None
            self.subscription.request(1)

    reader = Reader()
    endless: dict[str, Callable[[], bp.Flowable[int]]] = {
        "from_iterable(range)": lambda: bp.from_iterable(range(10**12)),
        "from_iterable(generator)": lambda: bp.from_iterable(itertools.count()),
        "generate": lambda: upto(10**12),
    }
    owner = subscribed_on_a_thread(endless[name](), reader)
    try:
        assert enough.wait(30)
        assert reader.subscription is not None
        reader.subscription.cancel()
    finally:
        owner.join(30)
    assert not owner.is_alive()
    last = len(values)
    assert values == list(range(last))
    assert not reader.completed
    assert reader.errors == []


@pytest.mark.needs("runs")
@pytest.mark.parametrize("name", list(SOURCES))
@pytest.mark.parametrize("capacity", [1025, 2048, 3000])
def test_a_run_to_a_stage_below_is_never_longer_than_a_run(name: str, capacity: int) -> None:
    # The buffer below asks again from inside the run it was handed (on this thread): those
    # asks are added at the end of the pass, so the next run of the same pass stays within
    # RUN items, however short the demand left for it.
    sizes: list[int] = []
    original = Drain._arrive_batch

    def counted(self: Drain[Any, Any], values: list[Any]) -> None:
        sizes.append(len(values))
        original(self, values)

    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Drain, "_arrive_batch", counted)
        SOURCES[name](10_000).pipe(bp.bounded_buffer(capacity)).subscribe(subscriber)
    assert subscriber.values == list(range(10_000))
    assert sizes
    assert max(sizes) <= RUN
    subscriber.assert_no_violations()
