"""Printing the results: a table for people, JSON for programs, a plot for both."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from ._run import StrategyResult
from ._scenario import Scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


def settings(scenario: Scenario, *, real_time: bool) -> str:
    """The run's settings in one line: the table's first line and the plot's title."""
    clock = "real time" if real_time else "virtual time"
    return (
        f"producer {scenario.producer_rate:g} msg/s, consumer {scenario.consumer_rate:g} msg/s "
        f"({scenario.cost * 1000:g} ms each), {scenario.duration:g} s of {clock}, "
        f"capacity {scenario.capacity}"
    )


def table(results: Sequence[StrategyResult], scenario: Scenario, *, real_time: bool) -> str:
    """A plain-text table, one row per strategy."""
    lines = [
        settings(scenario, real_time=real_time),
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


def as_json(results: Sequence[StrategyResult], scenario: Scenario, *, real_time: bool) -> str:
    """A JSON object: the run's ``settings``, and ``results`` with one object per strategy."""
    document = {
        "settings": {
            "producer_rate": scenario.producer_rate,
            "consumer_rate": scenario.consumer_rate,
            "duration_s": scenario.duration,
            "capacity": scenario.capacity,
            "real_time": real_time,
            "strategies": [r.strategy for r in results],
        },
        "results": [r.as_json() for r in results],
    }
    return json.dumps(document, indent=2)


class Style(NamedTuple):
    """How one strategy's line is drawn: told apart by dash and marker, not only colour."""

    color: str
    linestyle: str
    marker: str
    linewidth: float


STYLES: dict[str, Style] = {
    "none": Style("C0", "-", "o", 2.0),
    "bounded_buffer": Style("C1", "--", "s", 2.0),
    # shed_tail and shed_head hold the same count: the wide line goes under the dotted one.
    "shed_tail": Style("C2", "-", "^", 4.0),
    "shed_head": Style("C3", ":", "v", 2.0),
    "token_bucket": Style("C4", "-.", "D", 2.0),
    "adaptive_batch": Style("C5", "--", "X", 1.2),
    "circuit_break": Style("C6", ":", "P", 1.2),
}
"""One for each of the demo's strategies; no two share both dash and marker."""

_MARKS = 8
"""Markers per line; each line starts its markers at a different sample, so that lines
drawn over each other still show every strategy's marker."""


def figure(results: Sequence[StrategyResult], scenario: Scenario, *, real_time: bool) -> Figure:
    """Items held and items delivered over time, one line per strategy, with the settings."""
    from matplotlib.figure import Figure

    chart = Figure(figsize=(13, 6), layout="constrained")
    depth, delivered = chart.subplots(1, 2)
    for index, r in enumerate(results):
        style = STYLES[r.strategy]
        samples = len(r.series["time"])
        every = max(1, samples // _MARKS)
        line = {
            "label": r.strategy,
            "color": style.color,
            "linestyle": style.linestyle,
            "linewidth": style.linewidth,
            "marker": style.marker,
            "markersize": 6,
            "markevery": (index * every // max(1, len(results)), every),
        }
        depth.plot(r.series["time"], r.series["depth"], **line)
        delivered.plot(r.series["time"], r.series["delivered"], **line)
    # Linear from 0 to 1, logarithmic above: an empty pipeline is drawn at 0, where it is.
    depth.set_yscale("symlog", linthresh=1)
    depth.set_ylim(bottom=0)
    depth.set_title("held between producer and consumer")
    depth.set_ylabel("items held (log scale above 1)")
    delivered.set_title("delivered to the consumer")
    delivered.set_ylabel("items delivered so far")
    for axis in (depth, delivered):
        axis.set_xlabel("seconds")
        axis.grid(alpha=0.3)
        # Below the panel, where it hides no line.
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=4, fontsize="small")
    chart.suptitle(settings(scenario, real_time=real_time))
    return chart


def plot(
    results: Sequence[StrategyResult], path: str, scenario: Scenario, *, real_time: bool
) -> None:
    """Draw :func:`figure` into ``path``; its extension picks the format."""
    figure(results, scenario, real_time=real_time).savefig(path, dpi=110)
