"""rx_backpressure: request-n demand and bounded flow control for reactivex.

A :class:`Flowable` is a reactivex ``Observable`` that delivers only what its subscriber
has requested. Sources such as :func:`from_iterable` are read only as far as demand
reaches; the operators bound every queue they keep.
"""

from .core import PUSH_BUFFER as PUSH_BUFFER
from .core import UNBOUNDED as UNBOUNDED
from .core import BackpressureError as BackpressureError
from .core import BufferOverflowError as BufferOverflowError
from .core import Flowable as Flowable
from .core import Metrics as Metrics
from .core import PushSegment as PushSegment
from .core import Subscriber as Subscriber
from .core import Subscription as Subscription
from .core import pipe as pipe
from .sources import BlockingIterator as BlockingIterator
from .sources import from_iterable as from_iterable
from .sources import to_iterable as to_iterable

__version__ = "0.1.0"

__all__ = [
    "BackpressureError",
    "BlockingIterator",
    "BufferOverflowError",
    "Flowable",
    "Metrics",
    "PUSH_BUFFER",
    "PushSegment",
    "Subscriber",
    "Subscription",
    "UNBOUNDED",
    "from_iterable",
    "pipe",
    "to_iterable",
]
