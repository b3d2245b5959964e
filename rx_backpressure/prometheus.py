"""Prometheus export: every stage of a pipeline as metrics, read when Prometheus scrapes.

Needs prometheus-client: ``pip install 'rx-backpressure[prometheus]'``.

::

    from prometheus_client import REGISTRY, start_http_server
    from rx_backpressure import prometheus

    subscription = flow.subscribe(subscriber)
    collector = prometheus.register(subscription)   # on REGISTRY, the default
    start_http_server(9100)
    ...
    REGISTRY.unregister(collector)                  # stop exporting it

:func:`register` takes subscriptions (anything :func:`rx_backpressure.inspect` reads: the
whole pipeline above it is exported) and :class:`~rx_backpressure.Metrics` (exported as
the stage ``metrics.name``, or ``metrics`` while no stage has named it, with
``metrics.labels``). Nothing is pushed per item: each scrape inspects each subscription
once and snapshots each Metrics once.

Every family has the label ``stage`` (the stage's name; a name that comes again with the
same labels in one registration is told apart as ``name#2``, ``name#3``, in the order the
targets and their stages were given, source first), plus the Metrics' own labels. There is
no ``kind`` label: a stage's name already tells its kind, and a Metrics does not know it.

===========================================  =======  ===================================
family                                       type     from
===========================================  =======  ===================================
``rx_backpressure_received_total``           counter  ``received``
``rx_backpressure_emitted_total``            counter  ``emitted``
``rx_backpressure_dropped_total``            counter  ``dropped``
``rx_backpressure_depth``                    gauge    ``held`` (Metrics: ``depth``)
``rx_backpressure_capacity``                 gauge    ``capacity``
``rx_backpressure_demand_outstanding``       gauge    ``demand`` (unbounded: ``+Inf``)
``rx_backpressure_throttled_seconds_total``  counter  ``state["throttled_seconds"]``
``rx_backpressure_circuit_state``            gauge    ``state["circuit"]``: 1 on the
                                                      sample whose ``state`` label it is,
                                                      0 on the others
``rx_backpressure_kafka_lag``                gauge    ``state["partition_lag"]``, labels
                                                      ``topic``, ``partition``
``rx_backpressure_kafka_position_lag``       gauge    ``state["partition_position_lag"]``
``rx_backpressure_kafka_lag_seconds``        gauge    ``state["lag_seconds"]``
===========================================  =======  ===================================

A figure a stage does not know (None, or a state key it lacks) is left out, not zeroed.
A Metrics gives ``received``, ``emitted``, ``dropped``, ``depth``, ``throttled_seconds``,
``lag_seconds`` and the Kafka source's ``lag.<topic>.<partition>`` and
``position_lag.<topic>.<partition>``.
"""

from __future__ import annotations

try:
    import prometheus_client as _prometheus_client  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised with the module hidden
    raise ImportError(
        "rx_backpressure.prometheus needs prometheus-client: "
        "pip install 'rx-backpressure[prometheus]'"
    ) from _missing

import math
import re
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from ._readings import OWN_LABELS, check_target, read_targets
from .core import Metrics

__all__ = ["StageCollector", "register"]

_FAMILIES: dict[str, tuple[str, bool, str]] = {
    # figure: (family name, is a counter, help)
    "received": ("rx_backpressure_received", True, "Items that arrived from upstream."),
    "emitted": ("rx_backpressure_emitted", True, "Items (or batches) delivered downstream."),
    "dropped": ("rx_backpressure_dropped", True, "Items discarded by a drop policy."),
    "depth": ("rx_backpressure_depth", False, "Items the stage holds now."),
    "capacity": ("rx_backpressure_capacity", False, "The most items the stage may hold."),
    "demand_outstanding": (
        "rx_backpressure_demand_outstanding",
        False,
        "Demand from downstream not yet met (+Inf: unbounded).",
    ),
    "throttled_seconds": (
        "rx_backpressure_throttled_seconds",
        True,
        "Seconds items waited for tokens.",
    ),
    "circuit_state": (
        "rx_backpressure_circuit_state",
        False,
        "1 for the circuit's current state, 0 for the others.",
    ),
    "kafka_lag": (
        "rx_backpressure_kafka_lag",
        False,
        "High watermark minus the group's committed offset, per partition.",
    ),
    "kafka_position_lag": (
        "rx_backpressure_kafka_position_lag",
        False,
        "High watermark minus the consumer's position, per partition.",
    ),
    "kafka_lag_seconds": (
        "rx_backpressure_kafka_lag_seconds",
        False,
        "Age of the oldest record not yet acked.",
    ),
}

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class StageCollector:
    """A Prometheus collector of the targets given to :func:`register`.

    ``collect`` reads every target when the registry is scraped; ``describe`` names the
    families, so registering a second StageCollector on the same registry fails with
    ``DuplicateTimeseries`` instead of exporting every family twice.
    """

    def __init__(self, targets: tuple[Metrics | object, ...]) -> None:
        self._targets = targets

    def describe(self) -> list[Metric]:
        return [_family(figure, []) for figure in _FAMILIES]

    def collect(self) -> Iterator[Metric]:
        series = list(read_targets(self._targets, math.inf))
        for figure in _FAMILIES:
            rows = [(labels, value) for name, labels, value in series if name == figure]
            if not rows:
                continue
            # One label set per family: a series without one of them has it empty, which
            # Prometheus reads as absent.
            names = list(dict.fromkeys(key for labels, _ in rows for key in labels))
            family = _family(figure, names)
            for labels, value in rows:
                family.add_metric([labels.get(key, "") for key in names], value)
            yield family

    def __repr__(self) -> str:
        return f"StageCollector({len(self._targets)} targets)"


def register(*targets: Metrics | object, registry: CollectorRegistry = REGISTRY) -> StageCollector:
    """Export ``targets`` from ``registry`` (default: prometheus_client's ``REGISTRY``).

    Each target is a subscription (read with :func:`rx_backpressure.inspect` at every
    scrape, so every stage above it is exported) or a :class:`~rx_backpressure.Metrics`.
    Give every target of one registry in one call. Returns the collector;
    ``registry.unregister(collector)`` stops the export (the collector holds its targets
    until then).
    """
    if not targets:
        raise ValueError("register needs at least one subscription or Metrics, got none")
    for target in targets:
        _check_target(target)
    if not isinstance(registry, CollectorRegistry):
        raise TypeError(f"registry must be a prometheus_client CollectorRegistry, got {registry!r}")
    collector = StageCollector(targets)
    registry.register(collector)
    return collector


def _family(figure: str, labels: list[str]) -> CounterMetricFamily | GaugeMetricFamily:
    name, counter, documentation = _FAMILIES[figure]
    if counter:
        return CounterMetricFamily(name, documentation, labels=labels)
    return GaugeMetricFamily(name, documentation, labels=labels)


def _check_target(target: object) -> None:
    check_target(
        target,
        lambda key: not key.startswith("__") and _LABEL_NAME.fullmatch(key) is not None,
        f"Prometheus label names other than {', '.join(OWN_LABELS)}",
    )
