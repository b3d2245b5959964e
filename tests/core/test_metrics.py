"""Metrics: thread-safe named counters and gauges."""

from __future__ import annotations

import threading

import rx_backpressure as bp


def test_counters_gauges_and_snapshot() -> None:
    metrics = bp.Metrics()
    metrics.increment("received")
    metrics.increment("received", 4)
    metrics.set("depth", 3)
    metrics.set("depth", 1)
    assert metrics.get("received") == 5
    assert metrics.get("missing", -1) == -1
    assert metrics.snapshot() == {"received": 5, "depth": 1, "peak_depth": 3}


def test_increments_from_many_threads_are_not_lost() -> None:
    metrics = bp.Metrics()

    def work() -> None:
        for _ in range(10_000):
            metrics.increment("emitted")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.get("emitted") == 40_000


def test_errors_form_one_hierarchy() -> None:
    assert issubclass(bp.BufferOverflowError, bp.BackpressureError)
    assert issubclass(bp.BackpressureError, Exception)
