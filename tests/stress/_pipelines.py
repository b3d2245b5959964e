"""What the stress cases run: operators, random chains, sources, and the checks on items.

Every operator is configured so that it never throttles and never overflows for the sizes
used here (a push source sends at most 600 items: under every ``max_pending`` of 1024 and
``adaptive_batch``'s ``max_size`` of 1000), so each one is lossless except ``shed``, whose
drops are counted.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial, reduce
from typing import Any

import reactivex
from _stress import TIMEOUT, Case, Recorder, Threads
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.subject import Subject

import rx_backpressure as bp

Operator = Callable[[Observable[Any]], Observable[Any]]

KINDS = (
    "bounded_buffer",
    "shed",
    "token_bucket_shape",
    "token_bucket_drop",
    "token_bucket_error",
    "rate_limit",
    "adaptive_batch",
    "circuit_break",
    "circuit_break_uneven",
)
"""Our operators, each as a stress case configures it."""

STRATEGIES: tuple[bp.Strategy, ...] = ("tail", "head")


def same(value: Any) -> Any:
    return value


def number_of(value: Any) -> int:
    """The running number of an item: the int itself, or ``i`` of a producer's ``(p, i)``."""
    return value if isinstance(value, int) else int(value[1])


def latest(_: Any, value: Any) -> Any:
    """The accumulator of every ``ops.scan`` in the suite: it emits each item unchanged."""
    return value


def keep(value: Any) -> bool:
    """The predicate of every ``ops.filter`` in the suite: removes one item in five."""
    return number_of(value) % 5 != 3


class Uneven:
    """``circuit_break``'s action with every outcome the loop and a push source's direct path
    hand each other: every 7th call fails (and the item is called again at once, as a
    breaker that a single failure never opens allows), every 5th call's result is an
    Observable of the item, the rest the item itself. Calls are made one at a time, and
    any item will do (a batch from ``adaptive_batch`` above too)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, value: Any) -> Any:
        self.calls += 1
        if self.calls % 7 == 0:
            raise RuntimeError(f"call {self.calls} fails")
        if self.calls % 5 == 0:
            return reactivex.just(value)
        return value


class Drops:
    """Counts what a lossy operator reports dropped (``on_drop``), from any thread."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, item: Any) -> None:
        with self._lock:
            self.items.append(item)


@dataclass(frozen=True)
class Stage:
    label: str
    operator: Operator
    ours: bool = True
    lossless: bool = True
    filters: bool = False
    batches: bool = False


def stage(kind: str, case: Case, drops: Drops) -> Stage:
    """One of our operators (``KINDS``), or ``map``/``filter``; parameters drawn from ``case``."""
    rng = case.rng
    if kind == "bounded_buffer":
        capacity = rng.randint(1, 16)
        return Stage(f"bounded_buffer({capacity})", bp.bounded_buffer(capacity))
    if kind == "shed":
        capacity = rng.randint(1, 16)
        strategy = rng.choice(STRATEGIES)
        operator: Operator = bp.shed(capacity, strategy=strategy, on_drop=drops)
        return Stage(f"shed({capacity}, {strategy})", operator, lossless=False)
    if kind == "token_bucket_shape":
        return Stage("token_bucket(10_000, 1e9)", bp.token_bucket(10_000, 1e9))
    if kind == "token_bucket_drop":
        # With this rate nothing is ever dropped: on_drop is there to report it if it is.
        operator = bp.token_bucket(10_000, 1e9, mode="drop", on_drop=drops)
        return Stage("token_bucket(10_000, 1e9, drop)", operator)
    if kind == "token_bucket_error":
        return Stage("token_bucket(10_000, 1e9, error)", bp.token_bucket(10_000, 1e9, mode="error"))
    if kind == "rate_limit":
        return Stage("rate_limit(1e9)", bp.rate_limit(1e9))
    if kind == "adaptive_batch":
        initial = rng.randint(1, 32)
        operator = bp.adaptive_batch(initial_size=initial, min_size=1, max_size=1000)
        return Stage(f"adaptive_batch({initial})", operator, batches=True)
    if kind == "circuit_break":
        prefetch = rng.choice((1, 2, 8, 128))
        return Stage(
            f"circuit_break(prefetch={prefetch})", bp.circuit_break(same, prefetch=prefetch)
        )
    if kind == "circuit_break_uneven":
        prefetch = rng.choice((1, 8, 128))
        operator = bp.circuit_break(Uneven(), prefetch=prefetch)
        return Stage(f"circuit_break(uneven, prefetch={prefetch})", operator)
    if kind == "map":
        return Stage("map", ops.map(same), ours=False)
    if kind == "filter":
        return Stage("filter", ops.filter(keep), ours=False, filters=True)
    if kind == "scan":
        # Not a map or a filter, so never fused: reactivex's own operator runs, subscribed
        # inside reactivex's trampoline, with the stages above it.
        return Stage("scan", ops.scan(latest, None), ours=False)
    if kind == "concat_map":
        # Not one for one: the stages above become a push segment, read in trampoline steps.
        return Stage("concat_map", ops.concat_map(reactivex.just), ours=False)
    raise ValueError(f"unknown stage kind {kind!r}")


@dataclass
class Pipeline:
    stages: list[Stage]
    drops: Drops = field(default_factory=Drops)

    @property
    def label(self) -> str:
        return " -> ".join(s.label for s in self.stages)

    @property
    def lossless(self) -> bool:
        return all(s.lossless for s in self.stages)

    def expected(self, items: list[Any]) -> list[Any]:
        if any(s.filters for s in self.stages):
            return [item for item in items if keep(item)]
        return items

    def apply(self, source: Observable[Any]) -> bp.Flowable[Any]:
        """``source.pipe(...)`` for a Flowable source; for a push source, the plain operators
        before our first one are plain reactivex, and ``Flowable.pipe`` takes it from there."""
        operators = [s.operator for s in self.stages]
        if isinstance(source, bp.Flowable):
            return source.pipe(*operators)
        first = next(i for i, s in enumerate(self.stages) if s.ours)
        head = reduce(lambda upstream, op: op(upstream), operators[:first], source)
        flowable = operators[first](head)
        assert isinstance(flowable, bp.Flowable), f"{self.stages[first].label} gave {flowable!r}"
        return flowable.pipe(*operators[first + 1 :])


def single(kind: str, case: Case) -> Pipeline:
    """One of ``KINDS``; ``"map_filter"``: ``map``, ``filter`` bridged; ``"chain"``: a chain."""
    if kind == "chain":
        return chain(case)
    pipeline = Pipeline([])
    if kind == "map_filter":
        pipeline.stages = [
            stage("map", case, pipeline.drops),
            stage("filter", case, pipeline.drops),
        ]
    else:
        pipeline.stages = [stage(kind, case, pipeline.drops)]
    case.note("pipeline", pipeline.label)
    return pipeline


def chain(case: Case, kinds: list[str] | None = None) -> Pipeline:
    """Our operators ``kinds`` exactly as given; or 2 to 4 of them drawn from ``case``, each
    with a chance of a ``map``, of a ``filter`` and of a ``scan`` at drawn places (the
    filter before any batching: it looks at single items)."""
    pipeline = Pipeline([])
    if kinds is not None:
        pipeline.stages = [stage(kind, case, pipeline.drops) for kind in kinds]
        case.note("pipeline", pipeline.label)
        return pipeline
    kinds = [case.rng.choice(KINDS) for _ in range(case.rng.randint(2, 4))]
    stages = [stage(kind, case, pipeline.drops) for kind in kinds]
    if case.rng.random() < 0.4:
        stages.insert(case.rng.randint(0, len(stages)), stage("map", case, pipeline.drops))
    if case.rng.random() < 0.4:
        unbatched = next((i for i, s in enumerate(stages) if s.batches), len(stages))
        stages.insert(case.rng.randint(0, unbatched), stage("filter", case, pipeline.drops))
    if case.rng.random() < 0.3:
        stages.insert(case.rng.randint(0, len(stages)), stage("scan", case, pipeline.drops))
    pipeline.stages = stages
    case.note("pipeline", pipeline.label)
    return pipeline


# -- sources ---------------------------------------------------------------------------------


def pull(n: int) -> bp.Flowable[int]:
    return bp.from_iterable(range(n))


def sync_push(n: int) -> Observable[int]:
    return reactivex.from_iterable(range(n))


class HotFeed:
    """A Subject fed by producer threads once something has subscribed to it.

    One producer pushes ``0 .. n-1``; several push ``(p, i)`` through one lock (a Subject
    must not be called from two threads at once), so each producer's order is known. The
    last producer to finish completes the Subject. ``observable`` tells the producers when
    it is subscribed, so a hot source loses nothing to a late subscription.
    """

    def __init__(self, case: Case, total: int, *, producers: int = 1) -> None:
        self.case = case
        self.producers = producers
        self.per_producer = total // producers
        self.subject: Subject[Any] = Subject()
        self.subscribed = threading.Event()
        self.abandoned = threading.Event()  # the case's stop event, once started
        self.lock = threading.Lock()
        self._running = producers
        self.observable: Observable[Any] = reactivex.create(self._subscribe)

    @property
    def items(self) -> list[Any]:
        if self.producers == 1:
            return list(range(self.per_producer))
        return [(p, i) for p in range(self.producers) for i in range(self.per_producer)]

    def _subscribe(self, observer: Any, scheduler: Any = None) -> Any:
        disposable = self.subject.subscribe(observer)
        self.subscribed.set()
        return disposable

    def start(self, threads: Threads) -> None:
        """Start the producers; they give up when ``threads.stop`` is set (the case is over)."""
        self.abandoned = threads.stop
        for p in range(self.producers):
            threads.start(f"producer-{p}", partial(self._produce, p))

    def _produce(self, p: int) -> None:
        rng = self.case.thread_rng(100 + p)
        deadline = time.monotonic() + TIMEOUT
        # A subscription cancelled at once may never reach the feed: then nothing is pushed.
        while not self.subscribed.wait(0.01):
            if self.abandoned.is_set():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("nothing subscribed to the feed")
        for i in range(self.per_producer):
            if self.abandoned.is_set():
                return
            item = i if self.producers == 1 else (p, i)
            self._locked(partial(self.subject.on_next, item))
            if rng.random() < 0.05:
                time.sleep(0)
        with self.lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self._locked(self.subject.on_completed)

    def _locked(self, action: Callable[[], None]) -> None:
        if not self.lock.acquire(timeout=TIMEOUT):
            raise TimeoutError("a producer could not take the feed lock")
        try:
            action()
        finally:
            self.lock.release()


def source_of(kind: str, case: Case, n: int) -> tuple[Observable[Any], list[Any], HotFeed | None]:
    """``pull``, ``sync_push``, ``hot`` (one producer) or ``hot_many`` (2-4 producers):
    the source, the items it sends, and the feed to start once subscribed (hot ones)."""
    if kind == "pull":
        return pull(n), list(range(n)), None
    if kind == "sync_push":
        return sync_push(n), list(range(n)), None
    producers = 1 if kind == "hot" else case.randint("producers", 2, 4)
    feed = HotFeed(case, n, producers=producers)
    return feed.observable, feed.items, feed


# -- checks on items -------------------------------------------------------------------------


def flatten(values: list[Any]) -> list[Any]:
    """Items out of ``adaptive_batch`` lists (nested when batched twice)."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(flatten(value))
        else:
            out.append(value)
    return out


def _producer(item: Any) -> int:
    return int(item[0]) if isinstance(item, tuple) else 0


def _by_producer(items: list[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for item in items:
        out.setdefault(_producer(item), []).append(item)
    return out


def _whose(p: int, by_producer: dict[int, list[Any]]) -> str:
    return f"producer {p}: " if len(by_producer) > 1 else ""


def _difference(got: list[Any], expected: list[Any]) -> str:
    first = next(
        (i for i, (g, e) in enumerate(zip(got, expected, strict=False)) if g != e),
        min(len(got), len(expected)),
    )
    have, want = Counter(got), Counter(expected)
    missing = sorted((want - have).elements(), key=repr)
    extra = sorted((have - want).elements(), key=repr)
    duplicates = sorted(item for item, count in have.items() if count > 1 and item in want)
    return (
        f"got {len(got)} items, expected {len(expected)}; first difference at index {first}:"
        f" got {got[first : first + 5]}, expected {expected[first : first + 5]};"
        f" missing {missing[:10]}{'...' if len(missing) > 10 else ''} ({len(missing)}),"
        f" duplicated {duplicates[:10]} ({len(duplicates)}), unexpected {extra[:10]}"
    )


def check_items(
    case: Case, pipeline: Pipeline, values: list[Any], expected: list[Any], *, whole: bool
) -> None:
    """Lossless: every expected item once, in order per producer (a prefix of them if not
    ``whole``: a cancelled stream). Lossy: each producer's items in order, none twice, and
    every expected item delivered or dropped and counted (or, if not ``whole``, never sent)."""
    got = flatten(values)
    got_by, want_by = _by_producer(got), _by_producer(expected)
    if set(got_by) - set(want_by):
        case.fail(f"items from nowhere: {got[:10]}")
    dropped = flatten(pipeline.drops.items)
    if pipeline.lossless:
        for p, want in want_by.items():
            have = got_by.get(p, [])
            if not whole:
                want = want[: len(have)]  # a cancelled stream: a prefix
            if have != want:
                case.fail(_whose(p, want_by) + _difference(have, want))
        if dropped:
            case.fail(f"a lossless pipeline dropped {len(dropped)} items: {dropped[:10]}")
        return
    if any(s.filters for s in pipeline.stages):
        dropped = [item for item in dropped if keep(item)]  # the filter would have removed the rest
    for p, have in got_by.items():
        numbers = [number_of(item) for item in have]
        if any(a >= b for a, b in itertools.pairwise(numbers)):
            case.fail(f"{_whose(p, want_by)}out of order or repeated: {have[:40]}")
    accounted, wanted = Counter(got) + Counter(dropped), Counter(expected)
    if accounted - wanted:
        extra = sorted((accounted - wanted).elements(), key=repr)
        case.fail(f"delivered or dropped twice, or never sent: {extra[:10]} ({len(extra)})")
    if whole and accounted != wanted:
        lost = sorted((wanted - accounted).elements(), key=repr)
        case.fail(
            f"lost without being counted: {lost[:10]} ({len(lost)});"
            f" delivered {len(got)}, dropped {len(dropped)}"
        )


# -- running a case --------------------------------------------------------------------------


def request_from_threads(
    case: Case, threads: Threads, recorder: Recorder[Any], *, count: int, budget: int
) -> None:
    """``count`` requester threads ask for ``budget`` items in all, in random small steps."""
    threshold = case.randint("threshold", 0, 4)
    most = case.choice("most_per_request", (1, 1, 2, 3, 4))  # request(1) races most
    recorder.allow(budget)
    for index in range(count):
        demand = partial(
            recorder.demand,
            case.thread_rng(index),
            threshold=threshold,
            most=most,
            stop=threads.stop,
        )
        threads.start(f"requester-{index}", demand)


def subscribe_from_thread(
    threads: Threads, flowable: bp.Flowable[Any], recorder: Recorder[Any]
) -> None:
    """Subscribe on a thread of its own: a synchronous push source runs inside ``subscribe``.
    Leaving the case cancels the subscription (a no-op if the stream ended)."""
    disposables: list[abc.DisposableBase] = []

    def subscribe() -> None:
        if recorder.unbounded:
            disposables.append(flowable.subscribe(*recorder.callbacks))
        else:
            disposables.append(flowable.subscribe(recorder))

    def cancel() -> None:
        if recorder.subscription is not None:
            recorder.cancel()
        for disposable in disposables:
            disposable.dispose()

    threads.on_exit(cancel)
    threads.start("subscriber", subscribe)


def await_end(case: Case, threads: Threads, recorder: Recorder[Any], expected: list[Any]) -> None:
    """Wait for the terminal signal, then for every thread; fail with the state if either hangs."""

    def state() -> str:
        delivered = len(flatten(recorder.values))
        raised = f"; raised in threads: {threads.errors}" if threads.errors else ""
        return f"{recorder.outcome}; {delivered} of {len(expected)} items delivered{raised}"

    ended = recorder.terminated.wait(TIMEOUT)
    case.check(
        ended, lambda: f"no terminal signal within {TIMEOUT} s (a hang or a stall): {state()}"
    )
    threads.check_joined(state=state)
