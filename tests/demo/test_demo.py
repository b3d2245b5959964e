"""The demo: numbers that come from running the operators, checked against the model."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from reactivex import operators as ops

from rx_backpressure.demo import (
    STRATEGIES,
    Scenario,
    StrategyResult,
    as_json,
    estimated_bytes,
    run,
    run_strategy,
)
from rx_backpressure.demo._clock import VirtualClock
from rx_backpressure.demo._run import STEPS
from rx_backpressure.demo._scenario import BlockingConsumer, Probe, push_producer

SHORT = Scenario(duration=5.0)


def _run(name: str, scenario: Scenario = SHORT) -> StrategyResult:
    return run_strategy(name, scenario)


@pytest.fixture(scope="module")
def results() -> dict[str, StrategyResult]:
    return {r.strategy: r for r in run(SHORT, list(STRATEGIES), workers=1)}


def test_every_strategy_conserves_items(results: dict[str, StrategyResult]) -> None:
    # queued is counted inside the pipeline (operator metrics, the unbounded inbox),
    # not derived from the other three: this would catch an item lost or counted twice.
    for r in results.values():
        assert r.produced == r.delivered + r.dropped + r.queued, r


def test_without_backpressure_the_queue_grows_with_time(
    results: dict[str, StrategyResult],
) -> None:
    # 1000/s in, 100/s out: 5 s produce 5000, the consumer takes one every 10 ms from t=0.
    none = results["none"]
    assert (none.produced, none.delivered, none.dropped, none.queued) == (5000, 500, 0, 4500)
    assert none.peak_depth == 4500
    # the k-th item is taken at 0.01k and was made at 0.001k: it waited 0.009k
    assert none.p50_latency_s == pytest.approx(0.009 * 249)
    assert none.p99_latency_s == pytest.approx(0.009 * 494)
    longer = _run("none", Scenario(duration=10.0))
    assert longer.queued == 9000
    assert longer.peak_queue_bytes > 1.8 * none.peak_queue_bytes


def test_bounded_strategies_stay_within_capacity(results: dict[str, StrategyResult]) -> None:
    for name in ("bounded_buffer", "shed_tail", "shed_head", "token_bucket", "adaptive_batch"):
        # the item the consumer has in hand is counted as delivered
        assert results[name].peak_depth <= SHORT.capacity, name
        assert results[name].queued <= SHORT.capacity, name
    longer = _run("shed_tail", Scenario(duration=10.0))
    assert longer.peak_queue_bytes < 2 * results["shed_tail"].peak_queue_bytes


def test_peak_depth_is_what_the_operator_held(results: dict[str, StrategyResult]) -> None:
    # shed is full at 1000 and drops each arrival from then on: an arrival counted before
    # its drop would read 1001, a count of no moment at which the operator held that many
    for name in ("shed_tail", "shed_head"):
        assert results[name].peak_depth == SHORT.capacity, name
    assert _run("shed_tail", Scenario(duration=10.0)).peak_depth == SHORT.capacity


def test_shed_drops_what_does_not_fit(results: dict[str, StrategyResult]) -> None:
    for name in ("shed_tail", "shed_head"):
        r = results[name]
        assert (r.produced, r.delivered, r.dropped, r.queued) == (5000, 500, 3500, 1000)
    # head keeps the newest thousand: what is delivered was made a second before
    assert results["shed_head"].p99_latency_s == pytest.approx(1.0)


def test_lossless_strategies_throttle_the_producer(results: dict[str, StrategyResult]) -> None:
    bounded = results["bounded_buffer"]
    # 1000 requested up front, made in the first second; the next request comes after 750
    # have been delivered, which takes 7.5 s: the producer waits from t=1 to the end.
    assert (bounded.produced, bounded.delivered, bounded.queued) == (1000, 500, 500)
    assert bounded.throttled_s == pytest.approx(4.0)
    assert bounded.dropped == 0
    shaped = results["token_bucket"]
    # shaped to 100/s and read on demand: each item made when asked for, 9 ms late
    assert (shaped.produced, shaped.delivered, shaped.queued) == (500, 500, 0)
    assert shaped.throttled_s == pytest.approx(500 * 0.009)
    for name in ("adaptive_batch", "circuit_break"):
        assert results[name].dropped == 0
        assert results[name].throttled_s > 0


def test_batches_beat_one_at_a_time(results: dict[str, StrategyResult]) -> None:
    # ten times cheaper per item in batches: far more than 100/s get through
    assert results["adaptive_batch"].delivered > 3 * results["none"].delivered


def test_the_circuit_breaker_loses_nothing_while_the_service_is_down() -> None:
    r = _run("circuit_break", Scenario(duration=20.0))
    failing_from, failing_until = Scenario(duration=20.0).failure_window
    assert r.dropped == 0
    assert r.produced == r.delivered + r.queued
    # two seconds down out of twenty: fewer than 2000 delivered, but most of the rest
    assert 1500 < r.delivered < 2000
    assert failing_until - failing_from == pytest.approx(2.0)


def test_time_series_for_the_plot(results: dict[str, StrategyResult]) -> None:
    series = results["none"].series
    assert len(series["time"]) == len(series["depth"]) == len(series["delivered"]) > 100
    assert series["depth"][-1] > series["depth"][len(series["depth"]) // 2] > 0


def test_the_none_row_is_reactivex_observe_on(results: dict[str, StrategyResult]) -> None:
    # The same producer and consumer with reactivex's own observe_on between them.
    clock = VirtualClock()
    probe = Probe(SHORT, 0.0)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        push_producer(clock, probe, SHORT.producer_rate).pipe(ops.observe_on(clock)).subscribe(
            BlockingConsumer(clock, probe, SHORT.cost)
        )
        # Short of the end, where the demo reads its counts before the item due then
        # (the consumer's last wait runs to the end all the same).
        clock.advance_to(SHORT.duration - 0.0005)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    none = results["none"]
    assert (probe.produced, probe.delivered) == (none.produced, none.delivered)
    assert probe.percentile(0.99) == none.p99_latency_s
    # observe_on keeps a closure per item as well as the item: a model with a deque of
    # items would show a third of this
    assert 0.8 < none.peak_queue_bytes / peak < 1.25
    assert "observe_on" in none.description


def test_the_memory_estimate_is_near_what_none_takes(results: dict[str, StrategyResult]) -> None:
    # the latency record is made before the run, so it is not in the measured peak
    record = 8 * SHORT.most_items
    queue = estimated_bytes("none", SHORT) - record
    assert 0.75 < results["none"].peak_queue_bytes / queue < 1.25
    # it grows with rate and duration: a million a second for a minute is tens of GiB
    assert estimated_bytes("none", Scenario(producer_rate=1e6)) > 20 * 2**30
    for name in STRATEGIES:
        if name != "none":
            assert estimated_bytes(name, Scenario(producer_rate=1e6)) < 2**30, name


@pytest.mark.parametrize("workers", [1, 2])
def test_virtual_runs_report_their_progress(workers: int) -> None:
    seen: dict[str, list[float]] = {}

    def progress(name: str, fraction: float) -> None:
        seen.setdefault(name, []).append(fraction)

    names = ["shed_head", "token_bucket"]
    run(Scenario(duration=1.0), names, workers=workers, progress=progress)
    assert sorted(seen) == sorted(names)
    for name in names:
        assert seen[name] == sorted(seen[name]), name
        assert seen[name][-1] == 1.0, name
        # in this process, after each step; from other processes, as often as polled
        assert len(seen[name]) == STEPS if workers == 1 else len(seen[name]) >= 1


def test_the_json_holds_the_settings_of_the_run(results: dict[str, StrategyResult]) -> None:
    document = json.loads(as_json(list(results.values()), SHORT, real_time=False))
    assert document["settings"] == {
        "producer_rate": 1000.0,
        "consumer_rate": 100.0,
        "duration_s": 5.0,
        "capacity": 1000,
        "real_time": False,
        "strategies": list(STRATEGIES),
    }
    assert [row["strategy"] for row in document["results"]] == list(STRATEGIES)
