"""Sources and sinks: where demand starts and ends."""

from ._from_iterable import from_iterable as from_iterable
from ._to_iterable import BlockingIterator as BlockingIterator
from ._to_iterable import to_iterable as to_iterable
