"""OpenTelemetry export: every stage of a pipeline as observable instruments, read when the
SDK collects.

Needs the OpenTelemetry API, and an SDK to collect (the extra brings opentelemetry-sdk):
``pip install 'rx-backpressure[otel]'``.

::

    from opentelemetry import metrics
    from rx_backpressure import otel

    subscription = flow.subscribe(subscriber)
    exported = otel.register(subscription, meter=metrics.get_meter("orders"))
    ...
    exported.unregister()   # its targets are no longer observed

:func:`register` takes subscriptions (anything :func:`rx_backpressure.inspect` reads: the
whole pipeline above it is exported) and :class:`~rx_backpressure.Metrics` (exported as
the stage ``metrics.name``, or ``metrics`` while no stage has named it, with
``metrics.labels`` as attributes). Nothing is recorded per item: each instrument's callback
reads the targets when a reader collects.

Every data point has the attribute ``stage`` (the stage's name; a name that comes again
with the same labels on one meter is told apart as ``name#2``, ``name#3``, in the order
the targets were registered and their stages run, source first), plus the Metrics' own
labels. As in :mod:`rx_backpressure.prometheus`, there is no ``kind`` attribute.

==================================  =======  =========  =======================================
instrument                          type     unit       Prometheus family
==================================  =======  =========  =======================================
rx_backpressure.received            counter  {item}     rx_backpressure_received_total
rx_backpressure.emitted             counter  {item}     rx_backpressure_emitted_total
rx_backpressure.dropped             counter  {item}     rx_backpressure_dropped_total
rx_backpressure.depth               gauge    {item}     rx_backpressure_depth
rx_backpressure.capacity            gauge    {item}     rx_backpressure_capacity
rx_backpressure.demand_outstanding  gauge    {item}     rx_backpressure_demand_outstanding
rx_backpressure.throttled_time      counter  s          rx_backpressure_throttled_seconds_total
rx_backpressure.circuit_state       gauge    1          rx_backpressure_circuit_state
rx_backpressure.kafka.lag           gauge    {message}  rx_backpressure_kafka_lag
rx_backpressure.kafka.position_lag  gauge    {message}  rx_backpressure_kafka_position_lag
rx_backpressure.kafka.lag_time      gauge    s          rx_backpressure_kafka_lag_seconds
==================================  =======  =========  =======================================

Each instrument carries the figures of the Prometheus family beside it (see
:mod:`rx_backpressure.prometheus` for where each comes from); ``circuit_state`` has one
point per ``state`` attribute, the Kafka lags the attributes ``topic`` and ``partition``.

A figure a stage does not know (None, or a state key it lacks) is left out, not zeroed.
Unbounded demand is :data:`~rx_backpressure.UNBOUNDED` (``2**63 - 1``): the SDK drops a
non-finite value, so it cannot be infinity as it is in Prometheus.

OpenTelemetry cannot remove an instrument, and a second instrument of the same name on a
meter is the first one (its callbacks are dropped). So the instruments are made once per
meter, and every registration on that meter shares them: :meth:`Registration.unregister`
takes its targets out, and a later :func:`register` on the meter puts new ones in.
"""

from __future__ import annotations

try:
    import opentelemetry.metrics as _otel_metrics  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised with the module hidden
    raise ImportError(
        "rx_backpressure.otel needs opentelemetry-api (and an SDK to collect, such as "
        "opentelemetry-sdk): pip install 'rx-backpressure[otel]'"
    ) from _missing

import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from ._readings import OWN_LABELS, check_target, read_targets
from .core import UNBOUNDED, Metrics

__all__ = ["Registration", "register"]

_INSTRUMENTS: dict[str, tuple[str, bool, str, str]] = {
    # figure: (instrument name, is a counter, unit, description)
    "received": ("rx_backpressure.received", True, "{item}", "Items that arrived from upstream."),
    "emitted": (
        "rx_backpressure.emitted",
        True,
        "{item}",
        "Items (or batches) delivered downstream.",
    ),
    "dropped": ("rx_backpressure.dropped", True, "{item}", "Items discarded by a drop policy."),
    "depth": ("rx_backpressure.depth", False, "{item}", "Items the stage holds now."),
    "capacity": (
        "rx_backpressure.capacity",
        False,
        "{item}",
        "The most items the stage may hold.",
    ),
    "demand_outstanding": (
        "rx_backpressure.demand_outstanding",
        False,
        "{item}",
        "Demand from downstream not yet met (unbounded: 2**63 - 1).",
    ),
    "throttled_seconds": (
        "rx_backpressure.throttled_time",
        True,
        "s",
        "Seconds items waited for tokens.",
    ),
    "circuit_state": (
        "rx_backpressure.circuit_state",
        False,
        "1",
        "1 for the circuit's current state, 0 for the others.",
    ),
    "kafka_lag": (
        "rx_backpressure.kafka.lag",
        False,
        "{message}",
        "High watermark minus the group's committed offset, per partition.",
    ),
    "kafka_position_lag": (
        "rx_backpressure.kafka.position_lag",
        False,
        "{message}",
        "High watermark minus the consumer's position, per partition.",
    ),
    "kafka_lag_seconds": (
        "rx_backpressure.kafka.lag_time",
        False,
        "s",
        "Age of the oldest record not yet acked.",
    ),
}


class Registration:
    """The targets one :func:`register` call exports; :meth:`unregister` stops that."""

    def __init__(self, export: _MeterExport, targets: tuple[Metrics | object, ...]) -> None:
        self._export = export
        self.targets = targets

    def unregister(self) -> None:
        """Stop observing this registration's targets (again: nothing happens)."""
        self._export.remove(self)

    def __repr__(self) -> str:
        return f"Registration({len(self.targets)} targets)"


class _MeterExport:
    """The instruments of one meter, and the registrations they read."""

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._registrations: list[Registration] = []
        for figure, (name, counter, unit, description) in _INSTRUMENTS.items():
            create = meter.create_observable_counter if counter else meter.create_observable_gauge
            create(name, callbacks=[self._observer(figure)], unit=unit, description=description)

    def add(self, registration: Registration) -> None:
        with self._lock:
            self._registrations.append(registration)

    def remove(self, registration: Registration) -> None:
        with self._lock:
            if registration in self._registrations:
                self._registrations.remove(registration)

    def _observer(self, figure: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                targets = tuple(t for r in self._registrations for t in r.targets)
            return [
                Observation(series.value, series.labels)
                for series in read_targets(targets, UNBOUNDED)
                if series.figure == figure
            ]

        return observe


_exports: weakref.WeakKeyDictionary[Meter, _MeterExport] = weakref.WeakKeyDictionary()
_exports_lock = threading.Lock()


def register(*targets: Metrics | object, meter: Meter) -> Registration:
    """Export ``targets`` through ``meter``'s observable instruments.

    Each target is a subscription (read with :func:`rx_backpressure.inspect` at every
    collection, so every stage above it is exported) or a :class:`~rx_backpressure.Metrics`.
    Returns a :class:`Registration`; its ``unregister()`` stops the export (it holds its
    targets until then).
    """
    if not targets:
        raise ValueError("register needs at least one subscription or Metrics, got none")
    for target in targets:
        _check_target(target)
    if not isinstance(meter, Meter):
        raise TypeError(f"meter must be an opentelemetry Meter, got {meter!r}")
    with _exports_lock:
        export = _exports.get(meter)
        if export is None:
            export = _exports[meter] = _MeterExport(meter)
    registration = Registration(export, targets)
    export.add(registration)
    return registration


def _check_target(target: object) -> None:
    check_target(target, lambda _: True, f"named other than {', '.join(OWN_LABELS)}")
