"""The operators, one private module each: pipe them after any Observable or Flowable.

- :func:`bounded_buffer`: lossless, bounded; slows the producer (or fails) when full.
- :func:`shed`: lossy, bounded; drops the newest or the oldest item, counted and reported.
- :func:`token_bucket`, :func:`rate_limit`: an average rate with bursts, by demand.
- :func:`adaptive_batch`: lists sized to the consumer's measured pace.
- :func:`circuit_break`: stops calling, and stops pulling, while downstream fails.
- :func:`map_async`: awaits an async function per item, a bounded number at a time.
"""

from ._adaptive_batch import BatchSizeWarning as BatchSizeWarning
from ._adaptive_batch import SizeRule as SizeRule
from ._adaptive_batch import adaptive_batch as adaptive_batch
from ._adaptive_batch import default_size_rule as default_size_rule
from ._bounded_buffer import Overflow as Overflow
from ._bounded_buffer import bounded_buffer as bounded_buffer
from ._circuit_break import circuit_break as circuit_break
from ._circuit_breaker import CircuitBreaker as CircuitBreaker
from ._circuit_breaker import CircuitState as CircuitState
from ._map_async import map_async as map_async
from ._shed import Strategy as Strategy
from ._shed import shed as shed
from ._token_bucket import rate_limit as rate_limit
from ._token_bucket import token_bucket as token_bucket
