"""Scenario 3: cancel at a random point, from another thread or from inside ``on_next``,
while requester (and producer) threads keep going.

After ``cancel()`` returns, signals stop: at once when it was called from inside
``on_next`` (rule 1.8 on one thread), after at most one delivery per thread that was
already inside the library when it was called from elsewhere (1.8 across threads:
"eventually"), and then for good. Nothing follows a terminal signal (1.7), requests after
the cancel do nothing and never raise (3.6, 3.15), what was delivered is a prefix of the
items, every thread ends (a producer blocked on a full buffer is released), and the number
of running threads is back to what it was.

Also: a plain reactivex operator that ends early (``first``, ``take``) applied to a
Flowable over an endless pull source stops it, as it stops a plain Observable.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _pipelines import (
    KINDS,
    check_items,
    flatten,
    request_from_threads,
    single,
    source_of,
    subscribe_from_thread,
)
from _stress import (
    ROUNDS,
    SETTLE,
    TIMEOUT,
    Case,
    Recorder,
    Threads,
    check_no_thread_left,
    run_with_timeout,
    settle_count,
    threads_now,
)
from reactivex import Observable
from reactivex import operators as ops

import rx_backpressure as bp


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("kind", [*KINDS, "chain"])
@pytest.mark.parametrize("source_kind", ["pull", "sync_push", "hot"])
def test_signals_stop_after_a_cancel_and_every_thread_ends(
    source_kind: str, kind: str, round_: int
) -> None:
    before = threads_now()
    case = Case("random_cancel", source_kind, kind, round_)
    n = case.randint("items", 100, 400)
    pipeline = single(kind, case)
    expected = pipeline.expected(list(range(n)))
    cancel_at = case.randint("cancel_after_items", 0, len(expected) * 3 // 4)
    inside = case.choice("cancel_from", ("another_thread", "on_next")) == "on_next"
    requesters = case.randint("threads", 1, 3)

    def cancel_inside(recorder: Recorder[Any], _: Any) -> None:
        if recorder.received_at_cancel is None and len(flatten(recorder.values)) >= cancel_at:
            recorder.cancel()

    recorder: Recorder[Any] = Recorder(on_item=cancel_inside if inside else None)

    def reached() -> bool:
        if recorder.subscription is None:  # nothing to cancel yet
            return False
        return recorder.terminated.is_set() or len(flatten(recorder.values)) >= cancel_at

    with Threads(case) as threads:
        source, _, hot = source_of(source_kind, case, n)
        subscribe_from_thread(threads, pipeline.apply(source), recorder)
        if hot is not None:
            hot.start(threads)
        request_from_threads(case, threads, recorder, count=requesters, budget=n)
        if not inside:
            threads.start(
                "canceller",
                lambda: recorder.cancel() if recorder.wait_for(reached, TIMEOUT) else None,
            )
        case.check(
            recorder.wait_for(
                lambda: recorder.received_at_cancel is not None or recorder.terminated.is_set(),
                TIMEOUT,
            ),
            lambda: (
                f"neither the cancel point nor the end came within {TIMEOUT} s (a hang or a"
                f" stall): {recorder.outcome}"
            ),
        )
        if recorder.received_at_cancel is not None:
            at_cancel = recorder.received_at_cancel
            settled = settle_count(recorder)
            later = settle_count(recorder)
            # Each thread that may be inside the library when cancel() returns (requesters,
            # the subscriber, a producer) may finish the one delivery it had begun.
            bound = 0 if inside else requesters + 2
            case.check(
                settled - at_cancel <= bound,
                lambda: (
                    f"{settled - at_cancel} on_next after cancel() returned (at most {bound});"
                    f" {recorder.outcome}"
                ),
            )
            case.check(
                later == settled,
                lambda: f"signals still coming {2 * SETTLE} s after cancel(): {recorder.outcome}",
            )
        threads.stop.set()
        threads.check_joined(state=lambda: recorder.outcome)
    recorder.check_rules(case)
    check_items(case, pipeline, recorder.values, expected, whole=False)
    case.check(len(recorder.errors) == 0, lambda: f"a cancel is no error: {recorder.outcome}")
    check_no_thread_left(case, before)


def endless(reads: list[int], stop: threading.Event) -> Iterator[int]:
    """0, 1, 2, ... for as long as anyone reads (or until the case gives up on it)."""
    for i in itertools.count():
        if stop.is_set():
            return
        reads.append(i)
        yield i


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("applied", ["directly", "in_pipe"])
@pytest.mark.parametrize("operator", ["first", "take"])
def test_a_plain_operator_that_ends_early_stops_an_endless_flowable(
    operator: str, applied: str, round_: int
) -> None:
    before = threads_now()
    case = Case("plain_operator_stops", operator, applied, round_)
    k = 1 if operator == "first" else case.randint("take", 2, 20)
    kind = case.choice("through", ("source", *KINDS))
    pipeline = single(kind, case) if kind != "source" else None
    reads: list[int] = []
    abandon = threading.Event()
    source: bp.Flowable[int] = bp.from_iterable(endless(reads, abandon))
    flowable = pipeline.apply(source) if pipeline is not None else source
    ends: Callable[[Observable[Any]], Observable[Any]] = ops.first() if k == 1 else ops.take(k)
    result = flowable.pipe(ends) if applied == "in_pipe" else ends(flowable)
    recorder: Recorder[Any] = Recorder(unbounded=True)
    try:
        run_with_timeout(
            case,
            "subscribe",
            lambda: result.subscribe(*recorder.callbacks),
            state=lambda: f"{recorder.outcome}; the source was read {len(reads)} times",
        )
    finally:
        abandon.set()  # a source that never stops must not keep a core busy for the rest
    case.check(recorder.terminated.wait(TIMEOUT), lambda: f"no terminal signal: {recorder.outcome}")
    recorder.check_rules(case)
    recorder.check_completed_once(case)
    items = flatten(recorder.values)
    if kind == "shed":
        # Lossy: what a faster source overfills is dropped; what comes is in order, once.
        case.check(
            len(items) == k and items == sorted(set(items)),
            lambda: f"expected {k} items in order through shed, got {recorder.values}",
        )
    else:
        case.check(
            len(recorder.values) == k and items == list(range(len(items))),
            lambda: (
                f"expected the first {k} items (batches through adaptive_batch), "
                f"got {recorder.values}"
            ),
        )
    # Under unbounded demand an operator may read ahead what it may hold: at most the
    # 10_000 tokens of token_bucket here. Stopping means no more than that.
    read_ahead = 1 + (0 if pipeline is None else 10_000 * len(pipeline.stages))
    case.check(
        len(reads) <= len(items) + read_ahead,
        lambda: f"the source was read {len(reads)} times for {len(items)} items",
    )
    check_no_thread_left(case, before)
