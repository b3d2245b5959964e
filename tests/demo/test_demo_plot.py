"""The ``--plot`` figure explains itself: every strategy told apart, axes named, settings shown."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rx_backpressure.demo import STRATEGIES, Scenario, figure, run, settings

SCENARIO = Scenario(duration=2.0)


@pytest.fixture(scope="module")
def chart() -> Figure:
    return figure(run(SCENARIO, list(STRATEGIES)), SCENARIO, real_time=False)


def _panels(chart: Figure) -> tuple[Axes, Axes]:
    depth, delivered = chart.axes
    return depth, delivered


def _lines(axis: Axes) -> dict[str, Line2D]:
    return {str(line.get_label()): line for line in axis.get_lines()}


def _heights(line: Line2D) -> list[Any]:
    return list(np.asarray(line.get_ydata(), dtype=float))


def _first_marker(line: Line2D) -> object:
    every = line.get_markevery()
    assert isinstance(every, tuple)
    return every[0]


def test_every_strategy_is_told_apart_without_colour(chart: Figure) -> None:
    for axis in _panels(chart):
        lines = _lines(axis)
        assert list(lines) == list(STRATEGIES)
        looks = {(line.get_linestyle(), line.get_marker()) for line in lines.values()}
        assert len(looks) == len(STRATEGIES)
        # lines drawn over each other (most strategies deliver 100/s) still show every
        # marker: each line starts its markers at a sample of its own
        starts = {_first_marker(line) for line in lines.values()}
        assert len(starts) == len(STRATEGIES)


def test_shed_tail_shows_under_shed_head(chart: Figure) -> None:
    depth, _ = _panels(chart)
    lines = depth.get_lines()
    tail, head = _lines(depth)["shed_tail"], _lines(depth)["shed_head"]
    # both hold the same count once full: the first drawn is the wider, the top one dotted
    assert _heights(tail)[-100:] == _heights(head)[-100:]
    assert lines.index(tail) < lines.index(head)
    assert tail.get_linewidth() > head.get_linewidth()
    assert head.get_linestyle() != "-"


def test_both_panels_have_a_y_label_and_a_legend(chart: Figure) -> None:
    for axis in _panels(chart):
        assert axis.get_ylabel()
        legend = axis.get_legend()
        assert legend is not None
        assert [text.get_text() for text in legend.get_texts()] == list(STRATEGIES)


def test_an_empty_pipeline_is_drawn_at_zero(chart: Figure) -> None:
    depth, _ = _panels(chart)
    # token_bucket holds nothing between items: 0, drawn at 0 on a scale linear up to 1
    assert min(_heights(_lines(depth)["token_bucket"])) == 0
    assert depth.get_yscale() == "symlog"
    assert depth.get_ylim()[0] == 0


def test_the_figure_names_the_settings_of_the_run(chart: Figure) -> None:
    assert chart.get_suptitle() == settings(SCENARIO, real_time=False)
    assert chart.get_suptitle().startswith("producer 1000 msg/s, consumer 100 msg/s")
