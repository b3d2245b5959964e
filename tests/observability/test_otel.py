"""rx_backpressure.otel: a pipeline's figures as observable instruments, read at collection.

A real MeterProvider with an InMemoryMetricReader collects; the data points are compared
with the figures ``inspect`` gives, worked out next to each test.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

pytest.importorskip("opentelemetry.sdk.metrics")

from _stage_kit import Stage, rows_buffer_shed
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, InMemoryMetricReader, Metric, Sum

import rx_backpressure as bp
from rx_backpressure import Metrics, StageSnapshot, inspect, otel
from rx_backpressure.testing import TestSubscriber

Attributes = frozenset[tuple[str, str]]
Points = dict[tuple[str, Attributes], float]


class Collected:
    """A meter whose instruments an in-memory reader collects on demand."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.meter: Meter = self.provider.get_meter("test")

    def instruments(self) -> dict[str, tuple[str, str, bool | None]]:
        """Each instrument with points: (type, unit, monotonic or None for a gauge)."""
        found: dict[str, tuple[str, str, bool | None]] = {}
        for metric in self._metrics():
            data = metric.data
            monotonic = data.is_monotonic if isinstance(data, Sum) else None
            found[metric.name] = (type(data).__name__, metric.unit or "", monotonic)
        return found

    def points(self) -> Points:
        found: Points = {}
        for metric in self._metrics():
            assert isinstance(metric.data, (Sum, Gauge))
            for point in metric.data.data_points:
                attributes = frozenset((k, str(v)) for k, v in (point.attributes or {}).items())
                key = (metric.name, attributes)
                assert key not in found, f"{key} observed twice"
                found[key] = point.value
        return found

    def _metrics(self) -> list[Metric]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            metric
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        ]


@pytest.fixture
def collected() -> Collected:
    return Collected()


def point(name: str, value: float, **attributes: str) -> tuple[tuple[str, Attributes], float]:
    return (name, frozenset(attributes.items())), value


def expected_from(stages: list[StageSnapshot]) -> Points:
    found: Points = {}
    for stage in stages:
        for name, value in (
            ("rx_backpressure.received", stage.received),
            ("rx_backpressure.emitted", stage.emitted),
            ("rx_backpressure.dropped", stage.dropped),
            ("rx_backpressure.depth", stage.held),
            ("rx_backpressure.capacity", stage.capacity),
            ("rx_backpressure.demand_outstanding", stage.demand),
        ):
            if value is not None:
                found[(name, frozenset({("stage", stage.name)}))] = value
    return found


def test_a_collection_gives_every_stage_of_the_pipeline_with_its_inspect_figures(
    collected: Collected,
) -> None:
    # As in the Prometheus test: 100 items, bounded_buffer(10), shed(5), 3 asked for.
    ts = TestScheduler()
    subscription, subscriber = rows_buffer_shed(ts)
    registration = otel.register(subscription, meter=collected.meter)
    assert collected.instruments() == {
        "rx_backpressure.received": ("Sum", "{item}", True),
        "rx_backpressure.emitted": ("Sum", "{item}", True),
        "rx_backpressure.dropped": ("Sum", "{item}", True),
        "rx_backpressure.depth": ("Gauge", "{item}", None),
        "rx_backpressure.capacity": ("Gauge", "{item}", None),
        "rx_backpressure.demand_outstanding": ("Gauge", "{item}", None),
    }
    points = collected.points()
    assert points == dict(
        [
            point("rx_backpressure.received", 100, stage="rows"),
            point("rx_backpressure.received", 100, stage="buffer"),
            point("rx_backpressure.received", 100, stage="shed"),
            point("rx_backpressure.emitted", 100, stage="rows"),
            point("rx_backpressure.emitted", 100, stage="buffer"),
            point("rx_backpressure.emitted", 3, stage="shed"),
            point("rx_backpressure.dropped", 0, stage="rows"),
            point("rx_backpressure.dropped", 0, stage="buffer"),
            point("rx_backpressure.dropped", 92, stage="shed"),
            point("rx_backpressure.depth", 0, stage="rows"),
            point("rx_backpressure.depth", 0, stage="buffer"),
            point("rx_backpressure.depth", 5, stage="shed"),
            point("rx_backpressure.capacity", 10, stage="buffer"),
            point("rx_backpressure.capacity", 5, stage="shed"),
            point("rx_backpressure.demand_outstanding", 0, stage="rows"),
            point("rx_backpressure.demand_outstanding", 0, stage="buffer"),
            point("rx_backpressure.demand_outstanding", 0, stage="shed"),
        ]
    )
    assert points == expected_from(list(inspect(subscription)))
    subscriber.request(2)
    ts.advance_to(2.0)
    after = collected.points()
    assert after[("rx_backpressure.emitted", frozenset({("stage", "shed")}))] == 5
    assert after == expected_from(list(inspect(subscription)))
    registration.unregister()
    assert collected.points() == {}
    registration.unregister()  # again: nothing happens


def test_unbounded_demand_is_unbounded_as_the_sdk_refuses_infinity(collected: Collected) -> None:
    subject: Subject[int] = Subject()
    subscription = subject.pipe(bp.bounded_buffer(4, overflow="error", name="buffer")).subscribe(
        TestSubscriber()
    )
    subject.on_next(1)
    otel.register(subscription, meter=collected.meter)
    assert (
        collected.points()[("rx_backpressure.demand_outstanding", frozenset({("stage", "buffer")}))]
        == bp.UNBOUNDED
    )


def test_registrations_on_one_meter_share_its_instruments_and_come_and_go(
    collected: Collected,
) -> None:
    # OpenTelemetry keeps the first instrument of a name and drops a later one's callbacks:
    # a second registration, and one after an unregister, must still be observed.
    def run() -> object:
        return bp.from_iterable(range(4), name="rows").subscribe(TestSubscriber(initial_request=1))

    def emitted() -> dict[str, float]:
        return {
            dict(attributes)["stage"]: value
            for (name, attributes), value in collected.points().items()
            if name == "rx_backpressure.emitted"
        }

    first = otel.register(run(), meter=collected.meter)
    second = otel.register(run(), meter=collected.meter)
    assert emitted() == {"rows": 1, "rows#2": 1}
    first.unregister()
    assert emitted() == {"rows": 1}
    second.unregister()
    assert emitted() == {}
    otel.register(run(), run(), meter=collected.meter)
    assert emitted() == {"rows": 1, "rows#2": 1}


# -- state figures and Metrics ---------------------------------------------------------


def test_state_figures_and_metrics_with_labels(collected: Collected) -> None:
    stage = Stage(
        StageSnapshot(
            name="source",
            kind="source",
            state={
                "throttled_seconds": 2.5,
                "circuit": "open",
                "partition_lag": {("orders", 0): 4},
                "partition_position_lag": {("orders", 0): 1},
                "lag_seconds": 0.75,
            },
        )
    )
    metrics = Metrics("ingest", labels={"team": "data"})
    metrics.increment("received", 7)
    metrics.set("depth", 3)
    otel.register(stage, metrics, meter=collected.meter)
    lag = {"stage": "source", "topic": "orders", "partition": "0"}
    assert collected.points() == dict(
        [
            point("rx_backpressure.throttled_time", 2.5, stage="source"),
            point("rx_backpressure.circuit_state", 0, stage="source", state="closed"),
            point("rx_backpressure.circuit_state", 1, stage="source", state="open"),
            point("rx_backpressure.circuit_state", 0, stage="source", state="half_open"),
            point("rx_backpressure.kafka.lag", 4, **lag),
            point("rx_backpressure.kafka.position_lag", 1, **lag),
            point("rx_backpressure.kafka.lag_time", 0.75, stage="source"),
            point("rx_backpressure.received", 7, stage="ingest", team="data"),
            point("rx_backpressure.depth", 3, stage="ingest", team="data"),
        ]
    )
    units = {name: unit for name, (_, unit, _) in collected.instruments().items()}
    assert units["rx_backpressure.throttled_time"] == "s"
    assert units["rx_backpressure.kafka.lag"] == "{message}"
    assert units["rx_backpressure.kafka.lag_time"] == "s"
    assert units["rx_backpressure.circuit_state"] == "1"


def test_what_cannot_be_exported_is_refused_when_registering(collected: Collected) -> None:
    with pytest.raises(ValueError, match="at least one"):
        otel.register(meter=collected.meter)
    with pytest.raises(TypeError, match="subscriptions of Flowables or Metrics, got str"):
        otel.register("rows", meter=collected.meter)
    with pytest.raises(ValueError, match="got 'topic'"):
        otel.register(Metrics("m", labels={"topic": "x"}), meter=collected.meter)
    with pytest.raises(TypeError, match="opentelemetry Meter"):
        otel.register(Metrics("m"), meter=object())  # type: ignore[arg-type]
    assert collected.points() == {}


def test_without_opentelemetry_the_package_imports_and_this_module_names_the_extra() -> None:
    hidden = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'opentelemetry':\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import rx_backpressure\n"
        "try:\n"
        "    import rx_backpressure.otel\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hidden], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        "rx_backpressure.otel needs opentelemetry-api (and an SDK to collect, such as "
        "opentelemetry-sdk): pip install 'rx-backpressure[otel]'"
    )
