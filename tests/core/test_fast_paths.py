"""The core's fast paths, each pinned on its own and each switched off.

- **Direct delivery** (``Drain._accept``): an item that arrives while the loop is idle,
  nothing is held and there is demand goes straight downstream on the producer's thread.
- **The unlocked claim** (also ``Drain._accept``): such an item with nothing to count or
  hook, under unbounded demand, takes the loop's claim without the lock.
- **Runs** (the chain hand-off, ``Drain._arrive_batch``): a stage of ours hands the stage of
  ours below it a run of items in one call, taken in with one lock round trip.
- **Fusion** (``rx_backpressure.pipe``): a run of consecutive exact reactivex operators
  shares one demand bridge.

None may change what a subscriber sees: switched off, the demand rules, order, demand
upstream and the thread seams hold the same.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
import reactivex
from conftest import CountingLock, ask_from_threads, run_threads, switch_off
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp
from rx_backpressure.core import HELD, UNBOUNDED, Drain, _bridge, lift
from rx_backpressure.testing import DemandEvent, TestSubscriber, marbles, verify_flowable

OPERATORS: dict[str, Callable[[], Callable[[Observable[int]], bp.Flowable[Any]]]] = {
    "bounded_buffer": lambda: bp.bounded_buffer(4),
    "shed": lambda: bp.shed(1000),
    "token_bucket": lambda: bp.token_bucket(1000, 1e6),
    "rate_limit": lambda: bp.rate_limit(1e6),
    "circuit_break": lambda: bp.circuit_break(lambda item: item, prefetch=3),
}


@pytest.fixture(params=["direct path on", "direct path off"])
def direct(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param == "direct path off":
        switch_off(monkeypatch, "direct")
    return bool(request.param == "direct path on")


@pytest.mark.parametrize("name", list(OPERATORS))
def test_the_demand_rules_hold_with_and_without_direct_delivery(name: str, direct: bool) -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)).pipe(OPERATORS[name]()))


@pytest.mark.parametrize("name", list(OPERATORS))
def test_a_hot_source_from_another_thread_keeps_order_with_and_without_direct_delivery(
    name: str, direct: bool
) -> None:
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2**63 - 1)
    subject.pipe(OPERATORS[name]()).subscribe(subscriber)

    def produce() -> None:
        for item in range(2000):
            subject.on_next(item)
        subject.on_completed()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(20)
    assert not producer.is_alive()
    subscriber.assert_no_violations()
    if name == "shed":
        assert subscriber.values == sorted(set(subscriber.values))
    else:
        assert subscriber.values == list(range(2000))
    assert subscriber.completed


@pytest.mark.needs("direct")
def test_direct_delivery_runs_on_the_producers_thread_and_holds_nothing() -> None:
    metrics = bp.Metrics()
    threads: list[str] = []
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subject.pipe(bp.bounded_buffer(4, metrics=metrics)).subscribe(
        lambda _: threads.append(threading.current_thread().name)
    )

    def produce() -> None:
        for item in range(3):
            subject.on_next(item)

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    producer.join(20)
    assert threads == ["producer"] * 3
    assert metrics.snapshot() == {"received": 3, "emitted": 3}  # no depth: never held


@pytest.mark.needs("direct")
@pytest.mark.parametrize("demand", [1, UNBOUNDED], ids=["one", "unbounded"])
@pytest.mark.parametrize(
    "name",
    ["bounded_buffer", "shed", "bounded_buffer with metrics", "token_bucket", "circuit_break"],
)
def test_what_arrives_while_the_direct_path_delivers_is_delivered_as_it_lets_go(
    name: str, demand: int
) -> None:
    # The direct path gives its claim up without the lock. While it delivers item 0, another
    # thread pushes item 1 (held: the loop is claimed) and another asks for one more: both
    # only mark the loop. Letting go, the direct path must see the marks and pass, so item 1
    # is out by the time the push of item 0 returns. (With metrics, the item takes the
    # direct path's longer form, which counts it. token_bucket pays a token on the way, and
    # circuit_break calls its action: each has a direct path of its own form. Under
    # unbounded demand, bounded_buffer, shed and token_bucket take the claim unlocked.)
    operators: dict[str, Callable[[], Callable[[Observable[int]], bp.Flowable[int]]]] = {
        "bounded_buffer": lambda: bp.bounded_buffer(8),
        "shed": lambda: bp.shed(8),
        "bounded_buffer with metrics": lambda: bp.bounded_buffer(8, metrics=bp.Metrics()),
        "token_bucket": lambda: bp.token_bucket(8, 1.0),
        "circuit_break": lambda: bp.circuit_break(lambda item: item, max_pending=8),
    }
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=demand)
    seen = subscriber.on_next
    threads: list[str] = []

    def on_next(value: int) -> None:
        seen(value)
        threads.append(threading.current_thread().name)
        if value == 0:
            for work in (lambda: subject.on_next(1), lambda: subscriber.request(1)):
                other = threading.Thread(target=work)
                other.start()
                other.join(20)
                assert not other.is_alive()

    subscriber.on_next = on_next  # type: ignore[method-assign]
    subject.pipe(operators[name]()).subscribe(subscriber)
    subject.on_next(0)
    assert subscriber.values == [0, 1]
    assert threads == [threading.current_thread().name] * 2  # 0 went straight through
    subscriber.assert_no_violations()


@pytest.mark.needs("direct", "unlocked")
@pytest.mark.parametrize(
    ("demand", "taken"), [(UNBOUNDED, 0), (1_000, 100)], ids=["unbounded", "bounded"]
)
@pytest.mark.parametrize("name", ["bounded_buffer", "shed", "token_bucket", "circuit_break"])
def test_under_unbounded_demand_an_item_goes_through_without_the_lock(
    name: str, demand: int, taken: int
) -> None:
    # Unbounded demand needs no update per item, so the claim is all there is to take: with
    # nothing to count or hook it is taken without the lock (circuit_break: in the form for
    # a called item). A bounded demand is taken under it, one lock round trip an item.
    operators: dict[str, Callable[[], Callable[[Observable[int]], bp.Flowable[int]]]] = {
        "bounded_buffer": lambda: bp.bounded_buffer(8),
        "shed": lambda: bp.shed(8),
        "token_bucket": lambda: bp.token_bucket(1000, 1.0),
        "circuit_break": lambda: bp.circuit_break(lambda item: item * 10),
    }
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=demand)
    subject.pipe(operators[name]()).subscribe(subscriber)
    stage = subject.observers[0]
    assert isinstance(stage, Drain)
    lock = stage._lock = CountingLock(stage._lock)  # type: ignore[assignment]
    for item in range(100):
        subject.on_next(item)
    scale = 10 if name == "circuit_break" else 1
    assert subscriber.values == [item * scale for item in range(100)]
    assert lock.taken == taken
    snapshot = stage._inspect_stage()
    assert (snapshot.received, snapshot.emitted, snapshot.held) == (100, 100, 0)
    subscriber.assert_no_violations()


class _Gate:
    calm = 0


class _Calling(Drain[int, str]):
    """A stage on the core's direct path for a called item: ``act`` makes ``r<item>``,
    raises for 3, gives an int for 5, and moves the gate's token on during the call of 7;
    what ``_call_outcome`` is asked is noted, and the loop emits ``loop<item>``."""

    def __init__(self, downstream: bp.Subscriber[str], gate: _Gate) -> None:
        super().__init__(downstream, capacity=8)
        self.gate = gate
        self.calls: list[int] = []
        self.judged: list[tuple[int, object, bool]] = []

    def start(self, source: Observable[int] | None, scheduler: Any) -> None:
        self._call_gate = self.gate
        self._call_action = self.act
        self._call_plain = str
        self.on_next = self._accept_called  # type: ignore[method-assign]
        super().start(source, scheduler)

    def act(self, item: int) -> object:
        self.calls.append(item)
        if item == 3:
            raise ValueError(item)
        if item == 5:
            return item
        if item == 7:
            self.gate.calm = 1
        return f"r{item}"

    def _call_outcome(self, token: int, outcome: object, raised: bool) -> object:
        self.judged.append((token, repr(outcome) if raised else outcome, raised))
        return HELD if raised else f"j{outcome}"

    def _emit(self, on_next: Callable[[str], None], limit: int) -> int:
        emitted = 0
        while emitted < limit and self._queue:
            on_next(f"loop{self._queue.popleft()}")
            emitted += 1
        return emitted


@pytest.mark.needs("direct", "unlocked")
@pytest.mark.parametrize(
    ("demand", "taken"), [(UNBOUNDED, 4), (1_000, 16)], ids=["unbounded", "bounded"]
)
def test_a_called_item_is_judged_by_the_stage_only_when_its_call_is_not_a_plain_success(
    demand: int, taken: int
) -> None:
    # The core makes the call itself; the stage is asked only about a raise (left to the
    # loop here), a result of another type, and a token that moved on during the call.
    # A gate with no token (-1) makes no call: the item goes to the loop. Under unbounded
    # demand the claim is taken without the lock, and each of the two items left to the
    # loop takes it twice (counted, then the loop's pass); under a bounded one each claim
    # takes it once, and an item left to the loop three times (its demand given back too).
    gate = _Gate()
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[str] = TestSubscriber(initial_request=demand)
    stages: list[_Calling] = []

    def make(downstream: bp.Subscriber[str]) -> _Calling:
        stages.append(_Calling(downstream, gate))
        return stages[-1]

    subject.pipe(lift(make)).subscribe(subscriber)
    (stage,) = stages
    lock = stage._lock = CountingLock(stage._lock)  # type: ignore[assignment]
    for item in range(9):
        subject.on_next(item)
    gate.calm = -1
    subject.on_next(9)
    assert subscriber.values == ["r0", "r1", "r2", "loop3", "r4", "j5", "r6", "jr7", "r8", "loop9"]
    assert stage.calls == list(range(9))
    assert stage.judged == [(0, "ValueError(3)", True), (0, 5, False), (0, "r7", False)]
    assert lock.taken == taken
    snapshot = stage._inspect_stage()
    assert (snapshot.received, snapshot.emitted, snapshot.held) == (10, 10, 0)
    subscriber.assert_no_violations()


class OneAtATime:
    """A subscriber's on_next that notes any delivery overlapping another (a lock it
    never waits for) and now and then lets other threads in mid-delivery."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.overlaps: list[tuple[int, int]] = []
        self.values: list[tuple[int, int]] = []

    def __call__(self, value: tuple[int, int]) -> None:
        if not self.guard.acquire(blocking=False):
            self.overlaps.append(value)
            return
        self.values.append(value)
        if value[1] % 50 == 0:
            time.sleep(0)  # let the other producers in while this item is delivered
        self.guard.release()

    def assert_each_producers_order(self, producers: int, items: int) -> None:
        assert self.overlaps == []
        for k in range(producers):
            assert [item for producer, item in self.values if producer == k] == list(range(items))


def push_from_threads(
    subject: reactivex.subject.Subject[tuple[int, int]], producers: int, items: int
) -> None:
    """``producers`` threads at once, each pushing ``(its number, 0..items-1)`` into
    ``subject``, taking turns every 10 µs; returns once all are done (30 s each)."""

    def produce(producer: int) -> None:
        for item in range(items):
            subject.on_next((producer, item))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often, mid-item
    try:
        run_threads(threads, "a producer")
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.parametrize("name", ["bounded_buffer", "shed", "token_bucket", "circuit_break"])
def test_producers_on_several_threads_at_once_are_delivered_one_at_a_time(
    name: str, direct: bool
) -> None:
    # Four threads push into one Subject with no lock between them, under unbounded demand:
    # the stage alone serializes them (its claim, taken with or without the lock), and each
    # producer's items arrive in its order. bounded_buffer(16) is full now and then, so its
    # producers also wait for room.
    operators: dict[str, Callable[[], Callable[[Observable[Any]], bp.Flowable[Any]]]] = {
        "bounded_buffer": lambda: bp.bounded_buffer(16),
        "shed": lambda: bp.shed(4 * 3000),  # room for every item: none is shed
        "token_bucket": lambda: bp.token_bucket(1e12, 1e12, max_pending=4 * 3000),  # never dry
        "circuit_break": lambda: bp.circuit_break(lambda item: item, max_pending=4 * 3000),
    }
    subject: reactivex.subject.Subject[tuple[int, int]] = reactivex.subject.Subject()
    on_next = OneAtATime()
    subject.pipe(operators[name]()).subscribe(on_next)
    stage = subject.observers[0]
    assert isinstance(stage, Drain)
    push_from_threads(subject, producers=4, items=3000)
    on_next.assert_each_producers_order(producers=4, items=3000)
    snapshot = stage._inspect_stage()
    assert (snapshot.received, snapshot.emitted, snapshot.held) == (12000, 12000, 0)
    assert stage._passed < 12000  # some found the claim taken, and were held


def test_a_chain_over_producers_on_several_threads_keeps_each_producers_order(
    direct: bool,
) -> None:
    # The first stage takes pushed items (its claim unlocked under the chain's unbounded
    # demand at the end, or not), the stages below take runs from it: four producers at
    # once, nothing lost, no two deliveries overlapping, each producer's order kept.
    subject: reactivex.subject.Subject[tuple[int, int]] = reactivex.subject.Subject()
    on_next = OneAtATime()
    chain = (
        bp.bounded_buffer(16)(subject)
        .pipe(bp.token_bucket(1e12, 1e12))
        .pipe(bp.circuit_break(lambda item: item))
        .pipe(bp.shed(4 * 2000))
    )
    chain.subscribe(on_next)
    assert isinstance(chain, bp.Flowable)
    push_from_threads(subject, producers=4, items=2000)
    on_next.assert_each_producers_order(producers=4, items=2000)


def _double(item: tuple[int, int]) -> tuple[int, int]:
    return item[0], item[1] * 2


def _fourfold(item: tuple[int, int]) -> bool:
    return item[1] % 4 == 0


def _halve(item: tuple[int, int]) -> tuple[int, int]:
    return item[0], item[1] // 2


def test_a_fused_run_fed_by_producers_on_several_threads_keeps_each_producers_order(
    direct: bool,
) -> None:
    # A run of maps and a filter (fused, or reactivex's own operators under --without
    # fuse) below a buffer that four producer threads push into at once: each item is
    # delivered on whichever thread holds the buffer's loop, never two at a time, every
    # even item of each producer arrives in order, and the bridge counts what it took in
    # and let through.
    subject: reactivex.subject.Subject[tuple[int, int]] = reactivex.subject.Subject()
    on_next = OneAtATime()
    flow = bp.bounded_buffer(16)(subject).pipe(
        ops.map(_double), ops.filter(_fourfold), ops.map(_halve)
    )
    subscription = flow.subscribe(on_next)
    push_from_threads(subject, producers=4, items=2000)
    assert on_next.overlaps == []
    for k in range(4):
        assert [item for producer, item in on_next.values if producer == k] == list(
            range(0, 2000, 2)
        )
    bridge = bp.inspect(subscription)[-1]
    assert (bridge.kind, bridge.received, bridge.emitted) == ("bridge", 8000, 4000)


@pytest.mark.parametrize("name", ["bounded_buffer", "shed", "token_bucket", "circuit_break"])
def test_a_cancel_from_another_thread_stops_the_unlocked_path(name: str, direct: bool) -> None:
    # Two producers push under unbounded demand while a third thread cancels: once the
    # cancel has returned, at most the deliveries already under way finish (one per
    # producer), and nothing arrives after the producers are done.
    operators: dict[str, Callable[[], Callable[[Observable[int]], bp.Flowable[int]]]] = {
        "bounded_buffer": lambda: bp.bounded_buffer(16),
        "shed": lambda: bp.shed(16),
        "token_bucket": lambda: bp.token_bucket(1e12, 1e12, max_pending=10_000),
        "circuit_break": lambda: bp.circuit_break(lambda item: item, max_pending=10_000),
    }
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    subject.pipe(operators[name]()).subscribe(subscriber)
    started = threading.Event()
    stop = threading.Event()

    def produce() -> None:  # 6,000 items in all: never more than max_pending held
        for item in range(3000):
            if stop.is_set():
                return
            subject.on_next(item)
            if item == 500:
                started.set()

    producers = [threading.Thread(target=produce) for _ in range(2)]
    for thread in producers:
        thread.start()
    try:
        assert started.wait(30)
        subscriber.cancel()
        seen = len(subscriber.values)
        time.sleep(0.05)  # the producers go on pushing into a cancelled stage
        assert len(subscriber.values) <= seen + 2
    finally:
        stop.set()
        for thread in producers:
            thread.join(30)
            assert not thread.is_alive()
    assert not subject.observers  # upstream was let go
    assert subscriber.errors == []
    assert not subscriber.completed


# -- fusion ----------------------------------------------------------------------------------

EXACT: dict[str, Callable[[], Callable[[Observable[int]], Observable[int]]]] = {
    "map": lambda: ops.map(lambda x: x + 1),
    "filter": lambda: ops.filter(lambda x: x % 3 != 0),
    "skip": lambda: ops.skip(2),
    "take": lambda: ops.take(7),
    "take_while": lambda: ops.take_while(lambda x: x < 40),
    "distinct_until_changed": lambda: ops.distinct_until_changed(lambda x: x // 2),
    "scan": lambda: ops.scan(lambda acc, x: acc + x, 0),
}


def run_run(names: list[str], fused: bool, demand: str) -> tuple[list[Any], list[Any]]:
    with marbles() as m:
        source = m.pull(range(30))
        if fused:
            piped = source.pipe(*(EXACT[name]() for name in names))
        else:
            piped = source
            for name in names:
                piped = piped.pipe(EXACT[name]())
        results = m.start(piped, demand=demand)
        return list(results), settled(list(m.requests_of(source)))


def settled(events: list[DemandEvent]) -> list[DemandEvent]:
    """Requests without those made in the very instant of a final cancel (a ``take`` that
    completed): separate bridges may still pass one on there, a fused run does not."""
    if events and events[-1].n is None:
        cancel = events[-1]
        kept = events[:-1]
        while kept and kept[-1].time == cancel.time:
            kept.pop()
        return [*kept, cancel]
    return events


DEMANDS = st.sampled_from(["1-1-1-1-1-1-1-1-1", "3---2---*", "*", "2-------------1"])
"""Demand diagrams for the runs compared below: one at a time, in steps, all, and late."""


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(EXACT)), min_size=2, max_size=6), demand=DEMANDS)
def test_a_fused_run_sees_and_asks_exactly_what_separate_bridges_do(
    names: list[str], demand: str
) -> None:
    assert run_run(names, fused=True, demand=demand) == run_run(names, fused=False, demand=demand)


def test_a_run_of_exact_operators_shares_one_bridge() -> None:
    depths: list[int] = []

    def depth() -> Iterator[int]:
        import inspect

        for item in range(3):
            yield item
            depths.append(len(inspect.stack(0)))

    def deepest(pipeline: Callable[[bp.Flowable[int]], bp.Flowable[int]]) -> int:
        depths.clear()
        pipeline(bp.from_iterable(depth())).subscribe(lambda _: None)
        return max(depths)

    maps = [ops.map(lambda x: x) for _ in range(5)]

    def fused(source: bp.Flowable[int]) -> bp.Flowable[int]:
        return source.pipe(*maps)

    def separate(source: bp.Flowable[int]) -> bp.Flowable[int]:
        for op in maps:
            source = source.pipe(op)
        return source

    # The frames below the generator at the moment it yields: a fused run of five maps
    # shares one tap and one bridge; five separate bridges nest five of each.
    assert deepest(fused) < deepest(separate)


@pytest.mark.parametrize(
    ("demand", "asked"),
    [("2--3--*", "2--3--*"), ("1-1-1-1-1-1-1-1", "1-1-1-1-1-1-1-1"), ("*", "*")],
)
def test_a_run_that_never_swallows_asks_upstream_exactly_what_downstream_asks(
    demand: str, asked: str
) -> None:
    # map, scan and do_action emit one item per input, so their bridge sends the source's
    # items to the first of them without a tap (see the next test); demand stays exact.
    def double(x: int) -> int:
        return x * 2

    def add(total: int, x: int) -> int:
        return total + x

    with marbles() as m:
        seen: list[int] = []
        source = m.pull(range(8))
        piped = source.pipe(ops.map(double), ops.scan(add, 0), ops.do_action(seen.append))
        m.start(piped, demand=demand)
        assert m.subscriber is not None
        assert m.subscriber.values == seen == [0, 2, 6, 12, 20, 30, 42, 56]
        assert m.subscriber.completed
        assert m.requests_of(source) == m.exp_requests(asked)


@pytest.mark.needs("through")
def test_a_run_that_never_swallows_has_no_tap_and_one_that_may_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    switch_off(monkeypatch, "fuse")  # reactivex's own map and filter, each a frame an item
    depths: list[int] = []

    def record(_: int) -> None:
        import inspect

        depths.append(len(inspect.stack(0)))

    def depth_with(middle: Callable[[Observable[int]], Observable[int]]) -> int:
        depths.clear()
        bp.from_iterable(range(3)).pipe(
            ops.map(lambda x: x), middle, ops.map(lambda x: x)
        ).subscribe(record)
        return max(depths)

    # A filter (which may swallow an input) takes as many frames as a map; the two frames
    # more are the tap that notices a swallowed input and asks for a replacement, and the
    # count of outputs before the subscriber (a run that never swallows hands its outputs
    # to the subscriber's own on_next: the source's count is theirs).
    assert depth_with(ops.filter(lambda _: True)) == depth_with(ops.map(lambda x: x)) + 2


def frames_above(loop: str, pipeline: Observable[int] | bp.Flowable[int]) -> int:
    """Frames per item from the loop that reads the source (the function named ``loop``)
    up to the subscriber's callback: the callback's frame and each one below it."""
    seen: list[int] = []

    def record(_: int) -> None:
        frame: FrameType | None = sys._getframe(0)
        count = 0
        while frame is not None and frame.f_code.co_name != loop:
            count += 1
            frame = frame.f_back
        assert frame is not None
        seen.append(count)

    pipeline.subscribe(record)
    assert seen
    assert len(set(seen)) == 1
    return seen[0]


@pytest.mark.needs("through")
@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_run_of_maps_takes_one_frame_an_item_fewer_than_reactivexs_own_pipe(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unfused, per item: the source calls the first map itself (no observer of its own),
    # and the last map's observer calls the subscriber's callback (no bridge frame between).
    switch_off(monkeypatch, "fuse")
    maps = [ops.map(lambda x: x) for _ in range(k)]
    ours = frames_above("_emit", bp.from_iterable(range(3)).pipe(*maps))
    theirs = frames_above("action", reactivex.from_iterable(range(3)).pipe(*maps))
    assert ours == theirs - 1 == 2 * k + 1  # k maps, k observers and the callback


@pytest.mark.needs("fuse", "through")
@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_a_fused_run_of_maps_and_filters_takes_the_same_frames_an_item_whatever_its_length(
    k: int,
) -> None:
    # The bridge calls the maps' and filters' functions in turn from one frame of its own,
    # so an item never stands on more than that frame and one function's: two frames with
    # the callback for maps only (handed to the callback itself), three with a filter (its
    # outputs are counted on the way, as it may swallow), against 2k + 2 in reactivex's pipe.
    maps = [ops.map(_plus_one) for _ in range(k)]
    assert frames_above("_emit", bp.from_iterable(range(3)).pipe(*maps)) == 2
    theirs = frames_above("action", reactivex.from_iterable(range(3)).pipe(*maps))
    assert theirs == 2 * k + 2
    mixed = [*maps, ops.filter(_positive)]
    assert frames_above("_emit", bp.from_iterable(range(3)).pipe(*mixed)) == 3


def _plus_one(x: int) -> int:
    return x + 1


def _positive(x: int) -> bool:
    return x > 0


def _fails_on_9(x: int) -> int:
    return x // (x - 9) + x


def _fails_on_12(x: int) -> bool:
    return 1 // (x - 12) != 5


def _twice(x: int) -> int:
    return x * 2


def _over_4(x: int) -> bool:
    return x > 4


def _no_3s(x: int) -> bool:
    return x % 3 != 0


FUSIBLE: dict[str, Callable[[], Callable[[Observable[int]], Observable[int]]]] = {
    "map": lambda: ops.map(_plus_one),
    "map(None)": lambda: ops.map(None),
    "map fails on 9": lambda: ops.map(_fails_on_9),
    "filter": lambda: ops.filter(_no_3s),
    "filter fails on 12": lambda: ops.filter(_fails_on_12),
    "compose": lambda: reactivex.compose(ops.map(_twice), ops.filter(_over_4)),
}


def run_fusible(names: list[str], demand: str, fuse: bool) -> tuple[list[Any], ...]:
    """What the subscriber sees, the source's requests and the bridge's counts, for a run of
    ``names`` bridged with the bridge calling their functions (``fuse``) or reactivex's
    own operators calling them."""
    before = _bridge.FUSE
    _bridge.FUSE = fuse
    try:
        with marbles() as m:
            source = m.pull(range(30))
            results = m.start(source.pipe(*(FUSIBLE[name]() for name in names)), demand=demand)
            assert m.subscriber is not None
            bridge = bp.inspect(m.subscriber.subscription)[-1]
            counts = [bridge.kind, bridge.received, bridge.emitted, bridge.demand]
            return list(results), list(m.requests_of(source)), counts
    finally:
        _bridge.FUSE = before


@pytest.mark.needs("fuse")
@settings(max_examples=80, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(FUSIBLE)), min_size=1, max_size=6), demand=DEMANDS)
def test_a_fused_run_sees_asks_and_counts_exactly_what_reactivexs_operators_do(
    names: list[str], demand: str
) -> None:
    # Items, their times, errors (a function that raises fails the stream and cancels the
    # source), every request the source sees, and what inspect reads of the bridge.
    assert run_fusible(names, demand, fuse=True) == run_fusible(names, demand, fuse=False)


@pytest.mark.needs("fuse")
def test_a_fused_run_calls_no_function_after_one_failed() -> None:
    # reactivex's map would call its mapper again for an item that reached it after its
    # error (the observer after it drops the result); the fused run stops at once.
    calls: list[int] = []

    def mapper(x: int) -> int:
        calls.append(x)
        if x == 2:
            raise ValueError(x)
        return x

    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    bp.from_iterable(range(10)).pipe(ops.map(mapper), ops.filter(_positive)).subscribe(subscriber)
    assert calls == [0, 1, 2]
    assert subscriber.values == [1]
    assert [type(error) for error in subscriber.errors] == [ValueError]
    assert _bridge.fused_steps(ops.map(mapper)) == [(True, mapper)]
    assert _bridge.fused_steps(ops.scan(_sum, 0)) is None
    assert _bridge.fused_steps(reactivex.compose(ops.map(mapper), ops.take(2))) is None


def test_a_bridged_run_is_read_when_the_pipe_is_applied_not_at_each_subscription(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading an operator's closure is the costly part of setting up a bridge: each operator
    # is read once when the pipe is applied, its name made only when inspect asks for it,
    # and a subscription reads nothing.
    reads: list[object] = []
    closure = _bridge._closure

    def counted(op: object) -> dict[str, Any]:
        reads.append(op)
        return closure(op)

    monkeypatch.setattr(_bridge, "_closure", counted)
    stages = [ops.map(_plus_one), ops.filter(_no_3s), ops.scan(_sum, 0)]
    piped = bp.from_iterable(range(6)).pipe(*stages)
    assert reads == stages
    reads.clear()
    seen: list[list[int]] = [[], []]
    subscriptions = [piped.subscribe(seen[0].append), piped.subscribe(seen[1].append)]
    assert reads == []
    assert seen == [[1, 3, 7, 12], [1, 3, 7, 12]]
    names = [stage.name for stage in bp.inspect(subscriptions[0])]
    assert names == [
        "from_iterable(range(0, 6))",
        "map(_plus_one) | filter(_no_3s) | scan(_sum, 0)",
    ]
    assert reads  # the name, made now
    reads.clear()
    assert [stage.name for stage in bp.inspect(subscriptions[1])] == names
    assert reads == []  # made once, for every subscription


def test_one_piped_flowable_subscribed_from_threads_at_once_serves_each_alike() -> None:
    # The run read when the pipe was applied is shared by every subscription: eight threads
    # subscribe at once, each with a reader asking 7, then 1 per item, and each sees the whole
    # run's output and the same name (made once, whichever thread asks first).
    piped = bp.from_iterable(range(300)).pipe(ops.map(_plus_one), ops.filter(_no_3s))
    expected = [x + 1 for x in range(300) if (x + 1) % 3 != 0]
    seen: list[list[int]] = []
    names: list[list[str]] = []
    lock = threading.Lock()

    def subscribe() -> None:
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=7, replenish=1)
        subscription = piped.subscribe(subscriber)
        assert subscriber.terminated.wait(30)
        subscriber.assert_no_violations()
        named = [stage.name for stage in bp.inspect(subscription)]
        with lock:
            seen.append(list(subscriber.values))
            names.append(named)

    run_threads([threading.Thread(target=subscribe) for _ in range(8)], "a subscriber")
    assert seen == [expected] * 8
    assert names == [["from_iterable(range(0, 300))", "map(_plus_one) | filter(_no_3s)"]] * 8


def _sum(total: int, x: int) -> int:
    return total + x


def _fails_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three")
    return value


def _failing_source() -> Iterator[int]:
    yield from range(3)
    raise KeyError("the source")


def _refuses_two(value: int) -> None:
    if value == 2:
        raise LookupError("the subscriber")


@pytest.mark.parametrize(
    ("source", "operator", "on_next", "counts"),
    [
        (lambda: range(6), lambda v: v, lambda v: None, (6, 6, 6)),
        (lambda: range(6), _fails_on_three, lambda v: None, (4, 4, 3)),  # 3 failed in map
        (_failing_source, lambda v: v, lambda v: None, (3, 3, 3)),  # then the source failed
        (lambda: range(6), lambda v: v, _refuses_two, (3, 3, 3)),  # 2 was handed on, refused
    ],
    ids=["complete", "operator fails", "source fails", "subscriber refuses"],
)
@pytest.mark.parametrize("below", ["callback", "stage of ours"])
def test_a_bridge_counts_what_it_emitted_whether_or_not_it_counts_each_output(
    source: Callable[[], Any],
    operator: Callable[[int], int],
    on_next: Callable[[int], None],
    counts: tuple[int, int, int],
    below: str,
) -> None:
    # A map hands its outputs to our subscriber's own on_next, uncounted (one frame less an
    # item); inspect then reads what the stage below took in, or what the source emitted,
    # less the input the operator failed on. Switched off (--without through), every
    # output is counted on its way: the readings are the same.
    errors: list[Exception] = []
    stages: list[Callable[[Observable[int]], Any]] = [ops.map(operator)]
    if below == "stage of ours":
        stages.append(bp.bounded_buffer(16))
    flow = bp.from_iterable(source()).pipe(*stages)
    subscription = flow.subscribe(on_next, errors.append)
    pipeline = bp.inspect(subscription)
    source_emitted, bridge_received, bridge_emitted = counts
    assert pipeline[0].emitted == source_emitted
    # (The input an operator fails on was received and never emitted.)
    bridge = pipeline[1]
    assert (bridge.kind, bridge.received, bridge.emitted) == (
        "bridge",
        bridge_received,
        bridge_emitted,
    )
    assert len(errors) == (0 if counts == (6, 6, 6) else 1)


# -- the owner's own synchronous answers -------------------------------------------------------

WITH_METRICS: dict[str, Callable[[bp.Metrics | None], Callable[[Observable[int]], Any]]] = {
    "bounded_buffer": lambda metrics: bp.bounded_buffer(4, metrics=metrics),
    "shed": lambda metrics: bp.shed(3, metrics=metrics),
    "token_bucket": lambda metrics: bp.token_bucket(3, 1.0, metrics=metrics),
    "rate_limit": lambda metrics: bp.rate_limit(2.0, metrics=metrics),
    "adaptive_batch": lambda metrics: bp.adaptive_batch(
        initial_size=2, min_size=1, max_size=4, metrics=metrics
    ),
    "circuit_break": lambda metrics: bp.circuit_break(lambda x: x, prefetch=3, metrics=metrics),
}


@pytest.mark.parametrize("name", list(WITH_METRICS))
@pytest.mark.parametrize("demand", ["1-1-1-1-1-1-1-1", "3-----2--*", "*"])
def test_holding_an_answer_without_the_lock_changes_nothing_seen(name: str, demand: str) -> None:
    # A stage with metrics holds its own synchronous answers under the lock (to keep the
    # depth exact); without, its loop's owner holds them without it. Same items, same
    # times, same demand upstream.
    def run(metrics: bp.Metrics | None) -> tuple[list[Any], list[DemandEvent]]:
        with marbles() as m:
            source = m.pull(range(20))
            results = m.start(source.pipe(WITH_METRICS[name](metrics)), demand=demand)
            return list(results), list(m.requests_of(source))

    assert run(None) == run(bp.Metrics())


# -- the chain hand-off: runs between stages of ours --------------------------------------------

CHAINS: dict[str, Callable[[], list[Callable[[Observable[int]], Any]]]] = {
    "buffer, buffer": lambda: [bp.bounded_buffer(4), bp.bounded_buffer(3)],
    "buffer, bucket, breaker": lambda: [
        bp.bounded_buffer(5),
        bp.token_bucket(3, 2.0),
        bp.circuit_break(lambda x: x, prefetch=2),
    ],
    "bucket (drop), buffer": lambda: [bp.token_bucket(2, 1.0, mode="drop"), bp.bounded_buffer(2)],
    "breaker, batch, buffer": lambda: [
        bp.circuit_break(lambda x: x * 2, prefetch=3),
        bp.adaptive_batch(initial_size=2, min_size=1, max_size=3, max_wait=0.5),
        bp.bounded_buffer(2),
    ],
    "rate limit, shed": lambda: [bp.rate_limit(4.0), bp.shed(2)],
}


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("demand", ["1-1-1-1-1-1-1-1", "3-----2--*", "*", "2---------5-"])
def test_runs_between_stages_change_nothing_seen(
    chain: str, demand: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same chain, on virtual time, with runs handed from stage to stage and with one
    # on_next per item: the same items at the same times, the same demand at the source.
    def run() -> tuple[list[Any], list[DemandEvent]]:
        with marbles() as m:
            source = m.pull(range(24))
            results = m.start(source.pipe(*CHAINS[chain]()), demand=demand)
            return list(results), list(m.requests_of(source))

    with_runs = run()
    with monkeypatch.context() as patch:
        switch_off(patch, "runs")
        assert run() == with_runs


@pytest.mark.needs("runs")
def test_a_pull_source_hands_a_buffer_below_one_run_per_request() -> None:
    runs: list[int] = []
    arrive = Drain._arrive_batch

    def counted(self: Drain[Any, Any], values: list[Any]) -> None:
        runs.append(len(values))
        arrive(self, values)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Drain, "_arrive_batch", counted)
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2**63 - 1)
        bp.from_iterable(range(2500)).pipe(bp.bounded_buffer(1000)).subscribe(subscriber)
    # The buffer asks for 1000, and again for what has gone on once that is 750 or more:
    # the first run goes straight through (the demand below is unbounded), so it asks for
    # 1000 again. Each request is answered with one run, never an item at a time.
    assert runs == [1000, 1000, 500]
    assert subscriber.values == list(range(2500))
    assert subscriber.completed


@pytest.mark.needs("runs", "direct")
def test_a_run_is_split_at_the_demand_and_the_rest_is_held() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
    metrics = bp.Metrics()
    bp.from_iterable(range(10)).pipe(bp.bounded_buffer(8, metrics=metrics)).subscribe(subscriber)
    # One run of 8 arrives: 3 go straight on (the demand), 5 are held for later demand.
    assert subscriber.values == [0, 1, 2]
    assert metrics.snapshot() == {
        "requested": 8,
        "received": 8,
        "emitted": 3,
        "depth": 5,
        "peak_depth": 5,
    }
    subscriber.request(7)
    assert subscriber.values == list(range(10))
    assert subscriber.completed


def test_runs_from_a_producer_thread_keep_every_item_in_order() -> None:
    # Requests from a consumer thread while the source's runs are handed down on another.
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    flow = bp.from_iterable(range(20_000)).pipe(
        bp.bounded_buffer(64), bp.token_bucket(1e9, 1e9), bp.bounded_buffer(16)
    )
    flow.subscribe(subscriber)

    ask_from_threads(subscriber, threads=2, times=20_000 // 7 + 1, n=7)
    subscriber.assert_no_violations()
    assert subscriber.values == list(range(20_000))
    assert subscriber.completed


# -- a Subject upstream ------------------------------------------------------------------------
# A stage subscribes reactivex's own Subject directly, with no AutoDetachObserver between:
# the stage must detach, end and report just as it would through one.


@pytest.mark.parametrize("name", list(OPERATORS))
def test_a_subject_loses_its_stage_on_cancel(name: str) -> None:
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=10)
    subject.pipe(OPERATORS[name]()).subscribe(subscriber)
    subject.on_next(1)
    assert len(subject.observers) == 1
    subscriber.cancel()
    assert subject.observers == []
    subject.on_next(2)
    assert subscriber.values == [1]


@pytest.mark.parametrize("name", list(OPERATORS))
def test_a_subject_that_has_ended_or_was_disposed_ends_its_stage_at_once(name: str) -> None:
    completed: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    completed.on_completed()
    failed: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    failed.on_error(ValueError("gone"))
    disposed: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    disposed.dispose()
    outcomes = []
    for subject in (completed, failed, disposed):
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
        subject.pipe(OPERATORS[name]()).subscribe(subscriber)
        subscriber.assert_no_violations()
        outcomes.append((subscriber.completed, [type(error) for error in subscriber.errors]))
    assert outcomes == [
        (True, []),
        (False, [ValueError]),
        (False, [reactivex.internal.DisposedException]),
    ]
