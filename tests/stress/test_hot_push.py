"""Scenario 2: a Subject fed by a producer thread (or several, through one lock), consumed
by a subscriber that requests from threads of its own.

Lossless operators deliver every item, in order (per producer when there are several),
never beyond demand, without overlapping signals, and complete once; ``shed`` keeps each
producer's order and counts every item it drops.
"""

from __future__ import annotations

import pytest
from _pipelines import (
    KINDS,
    await_end,
    check_items,
    request_from_threads,
    single,
    source_of,
    subscribe_from_thread,
)
from _stress import ROUNDS, Case, Recorder, Threads


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("kind", [*KINDS, "chain"])
@pytest.mark.parametrize("feed", ["hot", "hot_many"])
def test_items_pushed_from_other_threads_all_arrive_in_order(
    feed: str, kind: str, round_: int
) -> None:
    case = Case("hot_push", feed, kind, round_)
    n = case.randint("items", 100, 600)
    pipeline = single(kind, case)
    recorder: Recorder[object] = Recorder(pause_every=case.choice("pause_every", (0, 1, 7)))
    with Threads(case) as threads:
        source, items, hot = source_of(feed, case, n)
        expected = pipeline.expected(items)
        subscribe_from_thread(threads, pipeline.apply(source), recorder)
        assert hot is not None
        hot.start(threads)
        request_from_threads(
            case, threads, recorder, count=case.randint("threads", 1, 3), budget=len(items)
        )
        await_end(case, threads, recorder, expected)
    recorder.check_rules(case)
    recorder.check_completed_once(case)
    check_items(case, pipeline, recorder.values, expected, whole=True)
