"""The scenario runner behind ``rx-backpressure demo``."""

from ._kafka import KafkaDemo as KafkaDemo
from ._kafka import run_kafka_demo as run_kafka_demo
from ._report import STYLES as STYLES
from ._report import as_json as as_json
from ._report import figure as figure
from ._report import plot as plot
from ._report import settings as settings
from ._report import table as table
from ._run import StrategyResult as StrategyResult
from ._run import estimated_bytes as estimated_bytes
from ._run import run as run
from ._run import run_strategy as run_strategy
from ._scenario import Scenario as Scenario
from ._strategies import STRATEGIES as STRATEGIES

__all__ = [
    "KafkaDemo",
    "STRATEGIES",
    "STYLES",
    "Scenario",
    "StrategyResult",
    "as_json",
    "estimated_bytes",
    "figure",
    "plot",
    "run",
    "run_kafka_demo",
    "run_strategy",
    "settings",
    "table",
]
