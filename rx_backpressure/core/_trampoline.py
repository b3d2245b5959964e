"""Steps on reactivex's current-thread trampoline: how a subscription made inside a
reactivex ``subscribe`` gets its disposable wired before a synchronous source runs.

reactivex subscribes inside a trampoline and its own synchronous sources queue their
items on it, so an operator such as ``take`` or ``first`` holds the source's disposable
before the first item and can stop it. A Flowable's synchronous loop has to wait its turn
in the same way; these helpers are how it does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from reactivex import abc
from reactivex.scheduler import CurrentThreadScheduler

from ._demand import UNBOUNDED

_get_ident = threading.get_ident


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


class Steps:
    """Asks a Flowable for ``size`` items per step of this thread's trampoline, for a
    subscriber inside a reactivex ``subscribe``, so that an operator below can stop an
    endless synchronous source between two steps.

    - **Who calls it:** the subscriber: ``start`` from ``on_subscribe``, ``arrived`` for
      every item (or run) it is sent, in order (rule 1.3), on whatever thread sends it.
    - **What it may assume:** ``ask`` is the subscription's ``request``.
    - **What it guarantees:** a step asks for ``size`` and the next step is queued once
      they have all arrived, as long as each step is answered inside its own request (a
      synchronous source). The first item that arrives any other way (pushed by a source
      above one of our buffers, in a trampoline step of its own, or from another thread)
      ends the steps: everything is asked for at once, since a step queued behind a
      source that pushes would wait for that source to end, while a buffer above waited
      for the step's demand. ``arrived`` then returns False, for good.
    """

    __slots__ = ("_ask", "_left", "_size", "_thread", "stepping")

    def __init__(self, ask: Callable[[int], None], size: int) -> None:
        self._ask = ask
        self._size = size
        self._left = 0  # items still due from the step's request
        self._thread: int | None = None  # the thread inside the step's request
        self.stepping = False

    def start(self) -> None:
        self.stepping = True
        CurrentThreadScheduler.singleton().schedule(self._step)  # as on_trampoline does

    def _step(self, _: abc.SchedulerBase, __: Any = None) -> None:
        if self.stepping:
            self._left = self._size
            self._thread = _get_ident()
            try:
                self._ask(self._size)
            finally:
                self._thread = None

    def arrived(self, count: int) -> bool:
        """``count`` items arrived; whether the steps go on."""
        if not self._left:
            return self.stepping
        if self._thread != _get_ident():  # not the step's answer: no more steps
            self.stepping = False
            self._left = 0
            self._ask(UNBOUNDED)
            return False
        left = self._left - count
        if left > 0:
            self._left = left
        else:
            self._left = 0
            CurrentThreadScheduler.singleton().schedule(self._step)
        return True
