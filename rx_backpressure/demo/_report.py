"""Printing the results: a table for people, JSON for programs, a plot for both."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from ._run import StrategyResult
from ._scenario import Scenario

_COLUMNS = (
    ("strategy", 14),
    ("produced", 9),
    ("delivered", 9),
    ("dropped", 8),
    ("queued", 7),
    ("peak depth", 10),
    ("peak memory", 11),
    ("throttled", 9),
    ("p50 lat.", 8),
    ("p99 lat.", 8),
)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop always returns


def _seconds(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def table(results: Sequence[StrategyResult], scenario: Scenario, *, real_time: bool) -> str:
    """A plain-text table, one row per strategy."""
    clock = "real time" if real_time else "virtual time"
    lines = [
        f"producer {scenario.producer_rate:g} msg/s, consumer {scenario.consumer_rate:g} msg/s "
        f"({scenario.cost * 1000:g} ms each), {scenario.duration:g} s of {clock}, "
        f"capacity {scenario.capacity}",
        "",
        "  ".join(
            name.rjust(width) if i else name.ljust(width)
            for i, (name, width) in enumerate(_COLUMNS)
        ),
    ]
    lines.append("-" * len(lines[-1]))
    for r in results:
        cells = (
            r.strategy,
            f"{r.produced:,}",
            f"{r.delivered:,}",
            f"{r.dropped:,}",
            f"{r.queued:,}",
            f"{r.peak_depth:,}",
            _size(r.peak_queue_bytes),
            _seconds(r.throttled_s),
            _seconds(r.p50_latency_s),
            _seconds(r.p99_latency_s),
        )
        lines.append(
            "  ".join(
                cell.rjust(width) if i else cell.ljust(width)
                for i, (cell, (_, width)) in enumerate(zip(cells, _COLUMNS, strict=True))
            )
        )
    lines.append("")
    lines.extend(f"{r.strategy:>14}: {r.description}" for r in results)
    return "\n".join(lines)


def as_json(results: Sequence[StrategyResult]) -> str:
    """A JSON list with one object per strategy."""
    return json.dumps([r.as_json() for r in results], indent=2)


def plot(results: Sequence[StrategyResult], path: str) -> None:
    """Queue depth and delivered items over time, one line per strategy, into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (depth, delivered) = plt.subplots(1, 2, figsize=(13, 4.5))
    for r in results:
        depth.plot(r.series["time"], [max(d, 0.5) for d in r.series["depth"]], label=r.strategy)
        delivered.plot(r.series["time"], r.series["delivered"], label=r.strategy)
    depth.set_yscale("log")
    depth.set_title("items held between producer and consumer (log scale)")
    delivered.set_title("items delivered to the consumer")
    for axis in (depth, delivered):
        axis.set_xlabel("seconds")
        axis.grid(alpha=0.3)
    delivered.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
