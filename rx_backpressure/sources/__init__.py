"""Sources and sinks: where demand starts and ends."""

from ._create import CreateOverflow as CreateOverflow
from ._create import Emitter as Emitter
from ._create import create as create
from ._from_async_iterable import from_async_iterable as from_async_iterable
from ._from_iterable import from_iterable as from_iterable
from ._generate import Emitter1 as Emitter1
from ._generate import generate as generate
from ._to_async_iterable import AsyncFlowIterator as AsyncFlowIterator
from ._to_async_iterable import to_async_iterable as to_async_iterable
from ._to_iterable import BlockingIterator as BlockingIterator
from ._to_iterable import to_iterable as to_iterable
