"""rx_backpressure: request-n demand and bounded flow control for reactivex.

A :class:`Flowable` is a reactivex ``Observable`` that delivers only what its subscriber
has requested. Sources such as :func:`from_iterable` are read only as far as demand
reaches; the operators (:func:`bounded_buffer`, :func:`shed`, :func:`token_bucket`,
:func:`rate_limit`, :func:`adaptive_batch`, :func:`circuit_break`, :func:`map_async`) bound
every queue they keep and pass demand upstream. ``async for`` reads a Flowable
(:func:`to_async_iterable`) and :func:`from_async_iterable` reads an async iterator.
Your own sources: :func:`create` (callback APIs) and :func:`generate` (cursors, pages); your
own operators: :class:`Drain` with :func:`lift` (see ``docs/extending.md``). Every stage is
named and counted: :func:`inspect` reads a running pipeline, :func:`watchdog` finds where it
stalls (see ``docs/observability.md``).
"""

import logging as _logging

from .core import PUSH_BUFFER as PUSH_BUFFER
from .core import UNBOUNDED as UNBOUNDED
from .core import BackpressureError as BackpressureError
from .core import BufferOverflowError as BufferOverflowError
from .core import CircuitOpenError as CircuitOpenError
from .core import Drain as Drain
from .core import Flowable as Flowable
from .core import Metrics as Metrics
from .core import Pipeline as Pipeline
from .core import PushSegment as PushSegment
from .core import RateLimitExceeded as RateLimitExceeded
from .core import StageSnapshot as StageSnapshot
from .core import Stall as Stall
from .core import Subscriber as Subscriber
from .core import Subscription as Subscription
from .core import inspect as inspect
from .core import lift as lift
from .core import pipe as pipe
from .core import seconds as seconds
from .core import watchdog as watchdog
from .operators import BatchSizeWarning as BatchSizeWarning
from .operators import CircuitBreaker as CircuitBreaker
from .operators import CircuitState as CircuitState
from .operators import Overflow as Overflow
from .operators import SizeRule as SizeRule
from .operators import Strategy as Strategy
from .operators import adaptive_batch as adaptive_batch
from .operators import bounded_buffer as bounded_buffer
from .operators import circuit_break as circuit_break
from .operators import default_size_rule as default_size_rule
from .operators import map_async as map_async
from .operators import rate_limit as rate_limit
from .operators import shed as shed
from .operators import token_bucket as token_bucket
from .sources import AsyncFlowIterator as AsyncFlowIterator
from .sources import BlockingIterator as BlockingIterator
from .sources import CreateOverflow as CreateOverflow
from .sources import Emitter as Emitter
from .sources import Emitter1 as Emitter1
from .sources import create as create
from .sources import from_async_iterable as from_async_iterable
from .sources import from_iterable as from_iterable
from .sources import generate as generate
from .sources import to_async_iterable as to_async_iterable
from .sources import to_iterable as to_iterable

__version__ = "0.1.0"

# A library's loggers stay silent until the application configures logging (drop summaries,
# breaker transitions and stalls go to "rx_backpressure.<module>").
_logging.getLogger("rx_backpressure").addHandler(_logging.NullHandler())

__all__ = [
    "AsyncFlowIterator",
    "BackpressureError",
    "BatchSizeWarning",
    "BlockingIterator",
    "BufferOverflowError",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CreateOverflow",
    "Drain",
    "Emitter",
    "Emitter1",
    "Flowable",
    "Metrics",
    "Overflow",
    "PUSH_BUFFER",
    "Pipeline",
    "PushSegment",
    "RateLimitExceeded",
    "SizeRule",
    "StageSnapshot",
    "Stall",
    "Strategy",
    "Subscriber",
    "Subscription",
    "UNBOUNDED",
    "adaptive_batch",
    "bounded_buffer",
    "circuit_break",
    "create",
    "default_size_rule",
    "from_async_iterable",
    "from_iterable",
    "generate",
    "inspect",
    "lift",
    "map_async",
    "pipe",
    "rate_limit",
    "seconds",
    "shed",
    "to_async_iterable",
    "to_iterable",
    "token_bucket",
    "watchdog",
]
