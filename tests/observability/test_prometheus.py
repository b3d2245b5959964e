"""rx_backpressure.prometheus: a pipeline's figures scraped over HTTP, read at scrape time.

Each test serves its own CollectorRegistry from prometheus_client's own HTTP server on a
free loopback port and scrapes it with urllib; the samples are parsed by prometheus_client's
parser and compared with the figures ``inspect`` gives, worked out next to each test.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

pytest.importorskip("prometheus_client")

from _stage_kit import Stage, rows_buffer_shed
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import DuplicateTimeseries

import rx_backpressure as bp
from rx_backpressure import Metrics, StageSnapshot, inspect, prometheus
from rx_backpressure.testing import TestSubscriber

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]
TIMEOUT = 10.0
"""Seconds a scrape or a thread may take before the test fails."""


class Served:
    """A registry served over HTTP, and a scrape of it."""

    def __init__(self, registry: CollectorRegistry, url: str) -> None:
        self.registry = registry
        self.url = url

    def text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=TIMEOUT) as response:
            body: bytes = response.read()
            return body.decode()

    def types(self) -> dict[str, str]:
        """Each family of ours and its type."""
        return {
            family.name: family.type
            for family in text_string_to_metric_families(self.text())
            if family.name.startswith("rx_backpressure_")
        }

    def samples(self) -> Samples:
        """Each sample of ours: (name, labels) -> value."""
        found: Samples = {}
        for family in text_string_to_metric_families(self.text()):
            for sample in family.samples:
                if sample.name.startswith("rx_backpressure_"):
                    key = (sample.name, frozenset(sample.labels.items()))
                    assert key not in found, f"{key} exported twice"
                    found[key] = sample.value
        return found


@pytest.fixture
def served() -> Iterator[Served]:
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield Served(registry, f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def sample(name: str, value: float, **labels: str) -> tuple[tuple[str, Labels], float]:
    return (name, frozenset(labels.items())), value


def expected_from(stages: list[StageSnapshot]) -> Samples:
    """The samples the contract gives for ``stages`` (no state figures among them)."""
    found: Samples = {}
    for stage in stages:
        assert not stage.state
        for name, value in (
            ("rx_backpressure_received_total", stage.received),
            ("rx_backpressure_emitted_total", stage.emitted),
            ("rx_backpressure_dropped_total", stage.dropped),
            ("rx_backpressure_depth", stage.held),
            ("rx_backpressure_capacity", stage.capacity),
            ("rx_backpressure_demand_outstanding", stage.demand),
        ):
            if value is not None:
                found[(name, frozenset({("stage", stage.name)}))] = (
                    math.inf if value == bp.UNBOUNDED else value
                )
    return found


# -- a pipeline on virtual time, pinned --------------------------------------------------


def test_a_scrape_gives_every_stage_of_the_pipeline_with_its_inspect_figures(
    served: Served,
) -> None:
    # 100 items through bounded_buffer(10) into shed(5), which asks for everything; the
    # subscriber asked for 3: shed emitted 3, holds 5 and dropped the other 92. The
    # source and the buffer completed, so no demand is outstanding anywhere.
    ts = TestScheduler()
    subscription, subscriber = rows_buffer_shed(ts)
    collector = prometheus.register(subscription, registry=served.registry)
    assert served.types() == {
        "rx_backpressure_received": "counter",
        "rx_backpressure_emitted": "counter",
        "rx_backpressure_dropped": "counter",
        "rx_backpressure_depth": "gauge",
        "rx_backpressure_capacity": "gauge",
        "rx_backpressure_demand_outstanding": "gauge",
    }
    scraped = served.samples()
    assert scraped == dict(
        [
            sample("rx_backpressure_received_total", 100, stage="rows"),
            sample("rx_backpressure_received_total", 100, stage="buffer"),
            sample("rx_backpressure_received_total", 100, stage="shed"),
            sample("rx_backpressure_emitted_total", 100, stage="rows"),
            sample("rx_backpressure_emitted_total", 100, stage="buffer"),
            sample("rx_backpressure_emitted_total", 3, stage="shed"),
            sample("rx_backpressure_dropped_total", 0, stage="rows"),
            sample("rx_backpressure_dropped_total", 0, stage="buffer"),
            sample("rx_backpressure_dropped_total", 92, stage="shed"),
            sample("rx_backpressure_depth", 0, stage="rows"),
            sample("rx_backpressure_depth", 0, stage="buffer"),
            sample("rx_backpressure_depth", 5, stage="shed"),
            sample("rx_backpressure_capacity", 10, stage="buffer"),
            sample("rx_backpressure_capacity", 5, stage="shed"),
            sample("rx_backpressure_demand_outstanding", 0, stage="rows"),
            sample("rx_backpressure_demand_outstanding", 0, stage="buffer"),
            sample("rx_backpressure_demand_outstanding", 0, stage="shed"),
        ]
    )
    assert scraped == expected_from(list(inspect(subscription)))
    # Read at scrape time: two more asked for, two more of the held five in the next scrape.
    subscriber.request(2)
    ts.advance_to(2.0)
    after = served.samples()
    assert after[("rx_backpressure_emitted_total", frozenset({("stage", "shed")}))] == 5
    assert after[("rx_backpressure_depth", frozenset({("stage", "shed")}))] == 3
    assert after == expected_from(list(inspect(subscription)))
    served.registry.unregister(collector)
    assert served.samples() == {}


def test_unbounded_demand_is_plus_inf_and_a_push_stage_without_figures_is_left_out(
    served: Served,
) -> None:
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber()  # asks for everything
    subscription = subject.pipe(bp.bounded_buffer(4, overflow="error", name="buffer")).subscribe(
        subscriber
    )
    subject.on_next(1)
    subject.on_next(2)
    prometheus.register(subscription, registry=served.registry)
    assert "+Inf" in served.text()
    assert served.samples() == dict(
        [
            sample("rx_backpressure_received_total", 2, stage="buffer"),
            sample("rx_backpressure_emitted_total", 2, stage="buffer"),
            sample("rx_backpressure_dropped_total", 0, stage="buffer"),
            sample("rx_backpressure_depth", 0, stage="buffer"),
            sample("rx_backpressure_capacity", 4, stage="buffer"),
            sample("rx_backpressure_demand_outstanding", math.inf, stage="buffer"),
        ]
    )


def test_a_name_that_comes_again_gets_a_number_in_the_order_given(served: Served) -> None:
    # Each run: bounded_buffer(2) reads 2 ahead and hands 1 to the subscriber's 1.
    def run() -> object:
        flow = bp.from_iterable(range(4), name="rows").pipe(bp.bounded_buffer(2, name="buffer"))
        return flow.subscribe(TestSubscriber(initial_request=1))

    first, second = run(), run()
    prometheus.register(first, second, registry=served.registry)
    emitted = {
        dict(labels)["stage"]: value
        for (name, labels), value in served.samples().items()
        if name == "rx_backpressure_emitted_total"
    }
    assert emitted == {"rows": 2, "buffer": 1, "rows#2": 2, "buffer#2": 1}


# -- a circuit breaker: one sample per state -------------------------------------------


class Service:
    """A service that fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = True

    def send(self, x: int) -> int:
        if self.down:
            raise ConnectionError("service down")
        return x + 1


def circuit(scraped: Samples) -> dict[str, float]:
    return {
        dict(labels)["state"]: value
        for (name, labels), value in scraped.items()
        if name == "rx_backpressure_circuit_state"
    }


def test_an_open_circuit_is_the_one_state_sample_at_1_until_a_trial_closes_it(
    served: Served,
) -> None:
    # Two failures open the breaker at t=0; after reset_timeout=30 s a trial call goes out
    # and, the service being back, succeeds: closed again.
    ts = TestScheduler()
    service = Service()
    flow = bp.from_iterable(range(10), name="rows").pipe(
        bp.circuit_break(
            service.send, failure_threshold=2, reset_timeout=30.0, scheduler=ts, name="send"
        )
    )
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1, scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    ts.advance_to(1.0)
    prometheus.register(subscription, registry=served.registry)
    assert inspect(subscription)["send"].state["circuit"] == "open"
    opened = served.samples()
    assert circuit(opened) == {"closed": 0, "open": 1, "half_open": 0}
    assert {dict(labels)["stage"] for (name, labels) in opened if "circuit" in name} == {"send"}
    service.down = False
    ts.advance_to(31.0)
    assert subscriber.values == [1]
    assert circuit(served.samples()) == {"closed": 1, "open": 0, "half_open": 0}


# -- a token bucket: seconds throttled ---------------------------------------------------


def test_throttled_seconds_count_up_while_items_wait_for_tokens(served: Served) -> None:
    # token_bucket(2, 1.0) over 5 items: a and b at 0, then one a second, e at 3. From 0
    # until 3 an item is always waiting for its tokens: 1.5 s at t=1.5, 3 s from t=3 on.
    ts = TestScheduler()
    flow = bp.from_iterable(range(5), name="rows").pipe(bp.token_bucket(2, 1.0, name="bucket"))
    subscriber: TestSubscriber[int] = TestSubscriber(scheduler=ts)
    subscription = flow.subscribe(subscriber, scheduler=ts)
    prometheus.register(subscription, registry=served.registry)
    throttled = ("rx_backpressure_throttled_seconds_total", frozenset({("stage", "bucket")}))
    ts.advance_to(1.5)
    assert subscriber.values == [0, 1, 2]
    assert served.samples()[throttled] == 1.5
    assert inspect(subscription)["bucket"].state["throttled_seconds"] == 1.5
    ts.advance_to(10.0)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert served.samples()[throttled] == 3.0


# -- state figures, from a stage of our own making ---------------------------------------


def test_state_figures_throttling_circuit_and_kafka_lag_per_partition(served: Served) -> None:
    stage = Stage(
        StageSnapshot(
            name="from_topics('orders')",
            kind="source",
            state={
                "throttled_seconds": 1.5,
                "circuit": "half_open",
                "partition_lag": {("orders", 1): 7, ("orders", 0): 3},
                "partition_position_lag": {("orders", 0): 2, ("orders", 1): 0},
                "lag_seconds": 0.25,
            },
        )
    )
    prometheus.register(stage, registry=served.registry)
    name = "from_topics('orders')"
    assert served.samples() == dict(
        [
            sample("rx_backpressure_throttled_seconds_total", 1.5, stage=name),
            sample("rx_backpressure_circuit_state", 0, stage=name, state="closed"),
            sample("rx_backpressure_circuit_state", 0, stage=name, state="open"),
            sample("rx_backpressure_circuit_state", 1, stage=name, state="half_open"),
            sample("rx_backpressure_kafka_lag", 3, stage=name, topic="orders", partition="0"),
            sample("rx_backpressure_kafka_lag", 7, stage=name, topic="orders", partition="1"),
            sample(
                "rx_backpressure_kafka_position_lag", 2, stage=name, topic="orders", partition="0"
            ),
            sample(
                "rx_backpressure_kafka_position_lag", 0, stage=name, topic="orders", partition="1"
            ),
            sample("rx_backpressure_kafka_lag_seconds", 0.25, stage=name),
        ]
    )
    assert served.types()["rx_backpressure_throttled_seconds"] == "counter"


# -- Metrics ---------------------------------------------------------------------------


def test_metrics_are_exported_under_their_name_with_their_labels(served: Served) -> None:
    # bounded_buffer(4) over 10 items, 2 asked for: 4 read, 2 emitted, 2 held. The Kafka
    # source's per-partition lag keys (a topic name may hold dots) become kafka_lag samples;
    # figures the exporters do not take (peak_depth, requested, the lag total) are left out.
    metrics = Metrics("ingest", labels={"team": "data"})
    ts = TestScheduler()
    flow = bp.from_iterable(range(10)).pipe(bp.bounded_buffer(4, metrics=metrics))
    flow.subscribe(TestSubscriber(initial_request=2, scheduler=ts), scheduler=ts)
    lags = Metrics("lag", labels={"team": "data"})
    lags.set("lag.orders.v2.0", 5)
    lags.set("position_lag.orders.v2.0", 1)
    lags.set("lag_seconds", 0.5)
    lags.set("lag", 5)
    prometheus.register(metrics, lags, registry=served.registry)
    snapshot = metrics.snapshot()
    assert (snapshot["received"], snapshot["emitted"], snapshot["depth"]) == (4, 2, 2)
    assert "dropped" not in snapshot
    lag = {"stage": "lag", "team": "data", "topic": "orders.v2", "partition": "0"}
    assert served.samples() == dict(
        [
            sample("rx_backpressure_received_total", 4, stage="ingest", team="data"),
            sample("rx_backpressure_emitted_total", 2, stage="ingest", team="data"),
            sample("rx_backpressure_depth", 2, stage="ingest", team="data"),
            sample("rx_backpressure_kafka_lag", 5, **lag),
            sample("rx_backpressure_kafka_position_lag", 1, **lag),
            sample("rx_backpressure_kafka_lag_seconds", 0.5, stage="lag", team="data"),
        ]
    )


# -- registering -----------------------------------------------------------------------


def test_a_second_collector_on_one_registry_fails_instead_of_exporting_twice(
    served: Served,
) -> None:
    subscription = bp.from_iterable(range(3)).subscribe(TestSubscriber())
    prometheus.register(subscription, registry=served.registry)
    with pytest.raises(DuplicateTimeseries):
        prometheus.register(subscription, registry=served.registry)


def test_what_cannot_be_exported_is_refused_when_registering() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="at least one"):
        prometheus.register(registry=registry)
    with pytest.raises(TypeError, match="subscriptions of Flowables or Metrics, got int"):
        prometheus.register(3, registry=registry)
    with pytest.raises(ValueError, match="got 'stage'"):
        prometheus.register(Metrics("m", labels={"stage": "x"}), registry=registry)
    with pytest.raises(ValueError, match="got 'a-b'"):
        prometheus.register(Metrics("m", labels={"a-b": "x"}), registry=registry)
    with pytest.raises(TypeError, match="CollectorRegistry"):
        prometheus.register(Metrics("m"), registry=object())  # type: ignore[arg-type]
    assert list(registry.collect()) == []


def test_without_prometheus_client_the_package_imports_and_this_module_names_the_extra() -> None:
    hidden = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'prometheus_client':\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import rx_backpressure\n"
        "try:\n"
        "    import rx_backpressure.prometheus\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hidden], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        "rx_backpressure.prometheus needs prometheus-client: "
        "pip install 'rx-backpressure[prometheus]'"
    )


# -- threads ---------------------------------------------------------------------------


def test_scrapes_while_a_producer_thread_pushes_see_counters_grow_and_end_exact(
    served: Served,
) -> None:
    # A producer thread pushes 2,000 items into bounded_buffer(16), blocking while it is
    # full; the test thread asks for 20 at a time and scrapes after each request.
    subject: Subject[int] = Subject()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=0)
    subscription = subject.pipe(bp.bounded_buffer(16, name="buffer")).subscribe(subscriber)
    prometheus.register(subscription, registry=served.registry)

    def produce() -> None:
        for value in range(2_000):
            subject.on_next(value)

    producer = threading.Thread(target=produce)
    producer.start()
    key = {
        figure: (f"rx_backpressure_{figure}", frozenset({("stage", "buffer")}))
        for figure in ("received_total", "emitted_total", "depth")
    }
    previous = {"received_total": 0.0, "emitted_total": 0.0}
    for asked in range(20, 2_001, 20):
        subscriber.request(20)
        scraped = served.samples()
        assert 0 <= scraped[key["depth"]] <= 16
        assert scraped[key["emitted_total"]] <= asked
        for figure, last in previous.items():
            assert scraped[key[figure]] >= last
            previous[figure] = scraped[key[figure]]
    producer.join(TIMEOUT)
    assert not producer.is_alive(), "the producer thread hung"
    deadline = time.monotonic() + TIMEOUT
    while subscriber.received < 2_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    subject.on_completed()
    assert subscriber.values == list(range(2_000))
    final = served.samples()
    assert final == expected_from(list(inspect(subscription)))
    assert (final[key["received_total"]], final[key["emitted_total"]], final[key["depth"]]) == (
        2_000,
        2_000,
        0,
    )
