"""Sources and sinks: where demand starts and ends."""

from ._from_async_iterable import from_async_iterable as from_async_iterable
from ._from_iterable import from_iterable as from_iterable
from ._to_async_iterable import AsyncFlowIterator as AsyncFlowIterator
from ._to_async_iterable import to_async_iterable as to_async_iterable
from ._to_iterable import BlockingIterator as BlockingIterator
from ._to_iterable import to_iterable as to_iterable
