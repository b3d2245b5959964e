"""Scenario 5: ``bp.to_iterable`` consumed on one thread while the source is fed from another:
a Subject pushed by a producer thread, or a pull source whose generator takes items from a
queue that a producer thread fills.

The consumer gets every item in order and the iterator ends; or, when it closes the
iterator early, it got a prefix, and the producer (perhaps blocked on a full buffer) and
every other thread still end.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from _pipelines import KINDS, HotFeed, Pipeline, check_items, single
from _stress import ROUNDS, TIMEOUT, Case, Threads, check_no_thread_left, threads_now
from reactivex import Observable

import rx_backpressure as bp

_END = object()


class QueueFeed:
    """A producer thread puts ``0 .. n-1`` into a queue; a generator takes them out on
    whichever thread asks ``from_iterable`` for items (here: the consumer's)."""

    def __init__(self, case: Case, n: int) -> None:
        self.case = case
        self.n = n
        self.queue: queue.Queue[object] = queue.Queue()

    def items(self) -> Iterator[Any]:
        while True:
            item = self.queue.get(timeout=TIMEOUT)  # queue.Empty: the producer is gone
            if item is _END:
                return
            yield item

    def produce(self, stop: threading.Event) -> None:
        rng = self.case.thread_rng(100)
        for i in range(self.n):
            if stop.is_set():
                return
            self.queue.put(i)
            if rng.random() < 0.05:
                time.sleep(0.0005)  # now and then the consumer catches up and waits
        self.queue.put(_END)


@pytest.mark.parametrize("round_", range(2 * ROUNDS))
@pytest.mark.parametrize("ending", ["to_the_end", "close_early"])
@pytest.mark.parametrize("feed", ["subject", "queue"])
def test_to_iterable_on_one_thread_with_the_source_fed_from_another(
    feed: str, ending: str, round_: int
) -> None:
    before = threads_now()
    case = Case("to_iterable", feed, ending, round_)
    n = case.randint("items", 100, 600)
    kind = case.choice("kind", (*KINDS, "chain"))
    pipeline: Pipeline = single(kind, case)
    prefetch = case.randint("prefetch", 1, 64)
    stop_after = case.randint("close_after", 0, n // 2) if ending == "close_early" else None
    got: list[Any] = []
    with Threads(case) as threads:
        source: Observable[Any]
        if feed == "subject":
            hot = HotFeed(case, n)
            source = hot.observable
            hot.start(threads)
        else:
            queued = QueueFeed(case, n)
            source = bp.from_iterable(queued.items())
            threads.start("producer", partial(queued.produce, threads.stop))
        expected = pipeline.expected(list(range(n)))
        flowable = pipeline.apply(source)

        def consume() -> None:
            with bp.to_iterable(flowable, prefetch=prefetch) as items:
                for item in items:
                    got.append(item)
                    if stop_after is not None and len(got) > stop_after:
                        break

        threads.start("consumer", consume)
        threads.check_joined(state=lambda: f"{len(got)} items taken; {len(expected)} expected")
    check_items(case, pipeline, got, expected, whole=stop_after is None)
    check_no_thread_left(case, before)
