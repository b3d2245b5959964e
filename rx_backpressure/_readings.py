"""What the exporters read from their targets, at collection time (shared by
``rx_backpressure.prometheus`` and ``rx_backpressure.otel``, which must each import
without the other's library).

A target is a subscription (read with :func:`~rx_backpressure.inspect`: every stage of its
pipeline) or a :class:`~rx_backpressure.Metrics`. Each figure comes out as a
:class:`Series`: the figure's name (``received``, ``depth``, ``circuit_state``,
``kafka_lag``, ...), its labels (``stage`` always, told apart from namesakes as
``name#2``), and its value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from .core import UNBOUNDED, Metrics, StageSnapshot
from .core import inspect as inspect_pipeline
from .core._stage import Inspectable

OWN_LABELS = ("stage", "state", "topic", "partition")
"""Labels the exporters set themselves: a Metrics may not use them."""

CIRCUIT_STATES = ("closed", "open", "half_open")


def check_target(target: object, label_ok: Callable[[str], bool], rule: str) -> None:
    """``target`` can be exported: a subscription, or a Metrics whose labels ``label_ok``
    accepts (else ``ValueError`` saying ``rule``)."""
    if isinstance(target, Metrics):
        for key in target.labels:
            if key in OWN_LABELS or not label_ok(key):
                raise ValueError(f"Metrics labels must be {rule}, got {key!r} in {target!r}")
    elif not isinstance(target, Inspectable):
        raise TypeError(
            f"targets must be subscriptions of Flowables or Metrics, got {type(target).__name__}"
        )


class Series(NamedTuple):
    """One figure of one stage."""

    figure: str
    labels: dict[str, str]
    value: float


def read_targets(targets: tuple[Metrics | object, ...], unbounded: float) -> Iterator[Series]:
    """Every figure of every target, its ``stage`` label told apart from its namesakes;
    unbounded demand as ``unbounded``."""
    taken: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for target in targets:
        figures: list[tuple[str, dict[str, str], StageSnapshot | dict[str, float]]]
        if isinstance(target, Metrics):
            figures = [(target.name or "metrics", dict(target.labels), target.snapshot())]
        else:
            figures = [(stage.name, {}, stage) for stage in inspect_pipeline(target)]
        for name, labels, source in figures:
            own = tuple(sorted(labels.items()))
            stage, copy = name, 1
            while (stage, own) in taken:
                copy += 1
                stage = f"{name}#{copy}"
            taken.add((stage, own))
            # Own labels win over a Metrics label given one of their names after registering.
            labels = {"stage": stage, **{k: v for k, v in own if k not in OWN_LABELS}}
            if isinstance(source, StageSnapshot):
                found = _stage_figures(source, unbounded)
            else:
                found = _metrics_figures(source)
            for figure, extra, value in found:
                yield Series(figure, {**labels, **extra}, value)


def _stage_figures(
    stage: StageSnapshot, unbounded: float
) -> Iterator[tuple[str, dict[str, str], float]]:
    demand = stage.demand
    for figure, value in (
        ("received", stage.received),
        ("emitted", stage.emitted),
        ("dropped", stage.dropped),
        ("depth", stage.held),
        ("capacity", stage.capacity),
        ("demand_outstanding", unbounded if demand is not None and demand >= UNBOUNDED else demand),
    ):
        if value is not None:
            yield figure, {}, value
    state = stage.state
    throttled = _number(state.get("throttled_seconds"))
    if throttled is not None:
        yield "throttled_seconds", {}, throttled
    circuit = state.get("circuit")
    if isinstance(circuit, str):
        states = CIRCUIT_STATES if circuit in CIRCUIT_STATES else (*CIRCUIT_STATES, circuit)
        for name in states:
            yield "circuit_state", {"state": name}, 1 if name == circuit else 0
    for figure, key in (
        ("kafka_lag", "partition_lag"),
        ("kafka_position_lag", "partition_position_lag"),
    ):
        lags = state.get(key)
        if isinstance(lags, Mapping):
            for (topic, partition), lag in sorted(lags.items()):
                value = _number(lag)
                if value is not None:
                    yield figure, {"topic": str(topic), "partition": str(partition)}, value
    age = _number(state.get("lag_seconds"))
    if age is not None:
        yield "kafka_lag_seconds", {}, age


def _metrics_figures(values: dict[str, float]) -> Iterator[tuple[str, dict[str, str], float]]:
    for figure, key in (
        ("received", "received"),
        ("emitted", "emitted"),
        ("dropped", "dropped"),
        ("depth", "depth"),
        ("throttled_seconds", "throttled_seconds"),
        ("kafka_lag_seconds", "lag_seconds"),
    ):
        if key in values:
            yield figure, {}, values[key]
    # The Kafka source's per-partition lag: ``lag.<topic>.<partition>`` (topics may hold dots).
    for key, value in sorted(values.items()):
        kind, _, rest = key.partition(".")
        topic, _, partition = rest.rpartition(".")
        if kind in ("lag", "position_lag") and topic and partition.isdigit():
            figure = "kafka_lag" if kind == "lag" else "kafka_position_lag"
            yield figure, {"topic": topic, "partition": partition}, value


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None
