"""Scenario 4: chains of 2 to 4 of our operators (random, plus each operator twice in a row,
plus each pair of them above reactivex's ``scan``, and above ``concat_map``, which reads
them in trampoline steps), with ``map``/``filter``/``scan`` at
random places, over a pull source and a synchronous push source,
consumed with plain callbacks (unbounded demand) and by a subscriber requesting from other
threads: every item, in order, then completion exactly once.
"""

from __future__ import annotations

import pytest
from _pipelines import (
    KINDS,
    Pipeline,
    await_end,
    chain,
    check_items,
    request_from_threads,
    source_of,
    subscribe_from_thread,
)
from _stress import ROUNDS, Case, Recorder, Threads

# Random chains put adaptive_batch after small buffers on purpose: the sizing advice is moot.
pytestmark = pytest.mark.filterwarnings("ignore::rx_backpressure.BatchSizeWarning")

CHAINS = (
    [f"random-{i}" for i in range(3 * ROUNDS)]
    + [f"twice-{kind}-{i}" for i in range(max(1, ROUNDS // 2)) for kind in KINDS]
    + [f"pair-{first}-{second}" for first in KINDS for second in KINDS]
)
"""Random chains; each operator twice in a row; and each pair of them with reactivex's
``scan`` below (never fused: reactivex subscribes the pair inside its trampoline)."""


def chain_for(which: str, case: Case) -> Pipeline:
    if which.startswith("twice-"):
        kind = which.split("-")[1]
        return chain(case, [kind, kind])
    if which.startswith("pair-"):
        _, first, second = which.split("-")
        return chain(case, [first, second, "scan"])
    return chain(case)


@pytest.mark.parametrize("which", CHAINS)
@pytest.mark.parametrize("consumer", ["callbacks", "request_n"])
@pytest.mark.parametrize("source_kind", ["pull", "sync_push"])
def test_a_chain_delivers_every_item_in_order(source_kind: str, consumer: str, which: str) -> None:
    case = Case("chains", source_kind, consumer, which)
    n = case.randint("items", 100, 400)
    pipeline = chain_for(which, case)
    expected = pipeline.expected(list(range(n)))
    recorder: Recorder[object] = Recorder(unbounded=consumer == "callbacks")
    with Threads(case) as threads:
        source, _, _ = source_of(source_kind, case, n)
        subscribe_from_thread(threads, pipeline.apply(source), recorder)
        if consumer == "request_n":
            request_from_threads(
                case, threads, recorder, count=case.randint("threads", 1, 3), budget=n
            )
        await_end(case, threads, recorder, expected)
    recorder.check_rules(case)
    recorder.check_completed_once(case)
    check_items(case, pipeline, recorder.values, expected, whole=True)


@pytest.mark.parametrize("second", KINDS)
@pytest.mark.parametrize("first", KINDS)
@pytest.mark.parametrize("source_kind", ["pull", "sync_push"])
def test_a_pair_read_in_trampoline_steps_delivers_every_item_in_order(
    source_kind: str, first: str, second: str
) -> None:
    # concat_map makes a push segment of the pair, read in trampoline steps; consumed with
    # plain callbacks, so the segment below never holds anything beyond demand.
    case = Case("chains", source_kind, "callbacks", f"stepped-{first}-{second}")
    n = case.randint("items", 100, 400)
    pipeline = chain(case, [first, second, "concat_map"])
    expected = pipeline.expected(list(range(n)))
    recorder: Recorder[object] = Recorder(unbounded=True)
    with Threads(case) as threads:
        source, _, _ = source_of(source_kind, case, n)
        subscribe_from_thread(threads, pipeline.apply(source), recorder)
        await_end(case, threads, recorder, expected)
    recorder.check_rules(case)
    recorder.check_completed_once(case)
    check_items(case, pipeline, recorder.values, expected, whole=True)
