"""Scenario 1: several threads call ``request(k)`` at once on one subscription over a pull
source, through each operator alone, ``map``/``filter`` bridged, and random chains.

Every item arrives once, in order (lossy ``shed``: in order, and every loss counted),
never beyond what was requested (rule 1.1), with no two signals overlapping (rule 1.3),
and the stream completes exactly once.
"""

from __future__ import annotations

import pytest
from _pipelines import (
    KINDS,
    await_end,
    check_items,
    pull,
    request_from_threads,
    single,
    subscribe_from_thread,
)
from _stress import ROUNDS, Case, Recorder, Threads


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("kind", [*KINDS, "map_filter", "chain"])
def test_concurrent_requests_deliver_each_item_once_in_order_within_demand(
    kind: str, round_: int
) -> None:
    case = Case("concurrent_requests", kind, round_)
    n = case.randint("items", 200, 1000)
    pipeline = single(kind, case)
    recorder: Recorder[object] = Recorder(pause_every=case.choice("pause_every", (0, 1, 7)))
    expected = pipeline.expected(list(range(n)))
    with Threads(case) as threads:
        subscribe_from_thread(threads, pipeline.apply(pull(n)), recorder)
        request_from_threads(case, threads, recorder, count=case.randint("threads", 2, 4), budget=n)
        await_end(case, threads, recorder, expected)
    recorder.check_rules(case)
    recorder.check_completed_once(case)
    check_items(case, pipeline, recorder.values, expected, whole=True)
