"""Test your own pipelines: virtual time, marble diagrams with demand, the rule suite.

- :class:`TestSubscriber` records signals with their virtual times and fails on a broken rule.
- :func:`marbles` gives ``hot``, ``cold``, ``pull``, ``spy``, ``exp``, ``demand``, ``start``,
  ``requests_of``/``exp_requests`` and ``subscriptions_of``/``exp_subscriptions`` on one
  ``TestScheduler``.
- :func:`verify_flowable` runs the demand rule suite against any Flowable factory.
"""

from ._marbles import Demand as Demand
from ._marbles import MarbleContext as MarbleContext
from ._marbles import marbles as marbles
from ._sources import DemandEvent as DemandEvent
from ._sources import RecordingFlowable as RecordingFlowable
from ._sources import TimedObservable as TimedObservable
from ._subscriber import RuleViolation as RuleViolation
from ._subscriber import TestSubscriber as TestSubscriber
from ._verify import verify_flowable as verify_flowable

__all__ = [
    "Demand",
    "DemandEvent",
    "MarbleContext",
    "RecordingFlowable",
    "RuleViolation",
    "TestSubscriber",
    "TimedObservable",
    "marbles",
    "verify_flowable",
]
