"""The core: demand arithmetic, the Flowable, and the one drain primitive."""

from ._bridge import PUSH_BUFFER as PUSH_BUFFER
from ._bridge import PushSegment as PushSegment
from ._bridge import keeps_demand_exact as keeps_demand_exact
from ._bridge import pipe as pipe
from ._demand import UNBOUNDED as UNBOUNDED
from ._demand import add_demand as add_demand
from ._demand import invalid_request as invalid_request
from ._drain import Drain as Drain
from ._drain import lift as lift
from ._drain import seconds as seconds
from ._errors import BackpressureError as BackpressureError
from ._errors import BufferOverflowError as BufferOverflowError
from ._errors import CircuitOpenError as CircuitOpenError
from ._errors import RateLimitExceeded as RateLimitExceeded
from ._flowable import Flowable as Flowable
from ._metrics import Metrics as Metrics
from ._subscription import Subscriber as Subscriber
from ._subscription import Subscription as Subscription
from ._subscription import is_subscriber as is_subscriber
