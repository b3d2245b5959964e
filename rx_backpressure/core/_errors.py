"""The error hierarchy: every error this library raises on its own account is a
:class:`BackpressureError`."""

from __future__ import annotations


class BackpressureError(Exception):
    """Base class of the errors signalled by rx_backpressure operators."""


class BufferOverflowError(BackpressureError):
    """A bounded buffer had no room for an item and its policy was to fail."""


class RateLimitExceeded(BackpressureError):
    """An item arrived when a rate limiter in ``"error"`` mode had too few tokens for it."""


class CircuitOpenError(BackpressureError):
    """A circuit breaker opened and its policy was to fail; the cause is the last failure."""
