"""Shared pytest configuration."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# The machine is shared and noisy: hypothesis must judge behaviour, never speed.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("default")
