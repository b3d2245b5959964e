"""Steps on reactivex's current-thread trampoline: how a subscription made inside a
reactivex ``subscribe`` gets its disposable wired before a synchronous source runs.

reactivex subscribes inside a trampoline and its own synchronous sources queue their
items on it, so an operator such as ``take`` or ``first`` holds the source's disposable
before the first item and can stop it. A Flowable's synchronous loop has to wait its turn
in the same way; these helpers are how it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import abc
from reactivex.scheduler import CurrentThreadScheduler


def on_trampoline(action: Callable[[], object]) -> None:
    """Run ``action`` as a step of this thread's trampoline.

    Outside one, a trampoline is started for it and runs to its end before this returns;
    inside one, the action waits for the current step to finish. Either way, what a
    reactivex ``subscribe`` made within ``action`` returns is in hand before the items that
    a synchronous source queues on the trampoline start to flow.
    """

    def step(_: abc.SchedulerBase, __: Any = None) -> None:
        action()

    CurrentThreadScheduler.singleton().schedule(step)
