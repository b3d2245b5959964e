"""The demo: numbers that come from running the operators, checked against the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rx_backpressure.demo import STRATEGIES, Scenario, StrategyResult, run, run_strategy

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
        # the item the consumer has in hand is counted as delivered, so at most capacity
        # are held, plus the one arriving at that instant for shed
        assert results[name].peak_depth <= SHORT.capacity + 1, name
        assert results[name].queued <= SHORT.capacity, name
    longer = _run("shed_tail", Scenario(duration=10.0))
    assert longer.peak_depth == results["shed_tail"].peak_depth == 1001
    assert longer.peak_queue_bytes < 2 * results["shed_tail"].peak_queue_bytes


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


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rx_backpressure", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_command_prints_json_with_the_required_keys() -> None:
    done = _cli(
        "demo", "--duration", "2", "--json", "--strategy", "none", "--strategy", "shed_tail"
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["strategy"] for row in rows] == ["none", "shed_tail"]
    keys = {
        "strategy",
        "produced",
        "delivered",
        "dropped",
        "queued",
        "peak_depth",
        "peak_queue_bytes",
        "throttled_s",
        "p50_latency_s",
        "p99_latency_s",
    }
    for row in rows:
        assert keys <= set(row)
        assert row["produced"] == row["delivered"] + row["dropped"] + row["queued"]


def test_the_table_and_the_plot(tmp_path: Path) -> None:
    image = tmp_path / "demo.png"
    done = _cli("demo", "--duration", "2", "--strategy", "token_bucket", "--plot", str(image))
    assert done.returncode == 0, done.stderr
    assert "token_bucket" in done.stdout
    assert "p99 lat." in done.stdout
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_time_runs_for_a_second() -> None:
    done = _cli("demo", "--real-time", "--duration", "1", "--json", "--strategy", "shed_head")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["produced"] == row["delivered"] + row["dropped"] + row["queued"]
    assert 500 <= row["produced"] <= 1001  # about 1000 in one real second
    assert row["queued"] <= 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--producer-rate", "-5"], "--producer-rate must be > 0"),
        (["demo", "--consumer-rate", "fast"], "--consumer-rate must be a number"),
        (["demo", "--duration", "0"], "--duration must be > 0"),
        (["demo", "--capacity", "1.5"], "--capacity must be a number"),
        (["demo", "--strategy", "hope"], "invalid choice: 'hope'"),
        (["demo", "--no-such-flag"], "unrecognized arguments"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_flags_exit_with_status_two_and_no_traceback(args: list[str], message: str) -> None:
    done = _cli(*args, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
