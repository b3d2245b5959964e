"""Tests of rx_backpressure.kafka against a real broker (a package: its conftest is its own)."""
