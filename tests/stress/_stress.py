"""The stress suite's machinery: reproducible cases, a rule-checking subscriber, threads.

Every wait here has a timeout, so a hang fails its case instead of blocking the run, and
every thread is a daemon, so a thread that stays hung cannot keep the process alive.

Environment:

- ``RXBP_STRESS_ROUNDS`` (default 3): rounds per parametrised case; ``make soak`` sets 50.
- ``RXBP_STRESS_SEED`` (default 0): mixed into every case's seed, to explore other seeds.
- ``RXBP_STRESS_TIMEOUT`` (default 3.0): seconds before a case counts as hung.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Generic, NoReturn, TypeVar

import rx_backpressure as bp

_T = TypeVar("_T")


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    return float(text) if text else default


ROUNDS = int(_env_number("RXBP_STRESS_ROUNDS", 3))
BASE_SEED = int(_env_number("RXBP_STRESS_SEED", 0))
TIMEOUT = _env_number("RXBP_STRESS_TIMEOUT", 3.0)
SETTLE = 0.05
"""Seconds to let other threads settle after a cancel before counting what they did."""
SWITCH_INTERVAL = 1e-6
"""The GIL switch interval while a case runs. At CPython's default of 5 ms one thread
usually handles a few hundred items before another runs at all, and the races these
cases look for never get a chance."""


@contextlib.contextmanager
def interleaved() -> Iterator[None]:
    """Make threads switch as often as CPython allows, for the length of the block."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class Case:
    """One reproducible case: a name, a seed derived from it, and every fact drawn from it.

    The facts (sizes, thread counts, the pipeline) are printed with each failure, and the
    same test id draws the same facts again; only the thread interleaving differs.
    """

    def __init__(self, *parts: object) -> None:
        self.name = "/".join(str(part) for part in parts)
        self.seed = zlib.crc32(f"{BASE_SEED}:{self.name}".encode())
        self.rng = random.Random(self.seed)
        self.facts: dict[str, object] = {}

    def randint(self, fact: str, low: int, high: int) -> int:
        value = self.rng.randint(low, high)
        self.facts[fact] = value
        return value

    def choice(self, fact: str, options: Sequence[_T]) -> _T:
        value = self.rng.choice(options)
        self.facts[fact] = value
        return value

    def note(self, fact: str, value: object) -> None:
        self.facts[fact] = value

    def thread_rng(self, index: int) -> random.Random:
        """A generator of its own for the thread numbered ``index``."""
        return random.Random(self.seed * 1009 + index)

    def __str__(self) -> str:
        facts = ", ".join(f"{name}={value}" for name, value in self.facts.items())
        return f"{self.name} (seed {self.seed}, RXBP_STRESS_SEED={BASE_SEED}; {facts})"

    def fail(self, message: str) -> NoReturn:
        raise AssertionError(f"{message}\n    case: {self}")

    def check(self, condition: bool, message: Callable[[], str]) -> None:
        if not condition:
            self.fail(message())


class Recorder(Generic[_T]):
    """A request-n subscriber that records every signal and every rule a signal breaks.

    A broken rule never raises from the signal (the exception would be the library's to
    route, and would hide the first fault); it is kept in ``violations`` and fails the case
    when checked. Overlap is seen with a non-blocking acquire of a lock held for the length
    of each signal (rule 1.3 across threads, 3.3 on one thread). ``requested`` is counted
    *before* ``request`` is called, so an item beyond it is beyond demand (rule 1.1).

    ``unbounded=True`` is for plain callbacks (``recorder.callbacks``): no ``on_subscribe``,
    no demand to check. ``on_item(recorder, value)`` runs inside ``on_next`` (a cancel or a
    request from there); ``pause_every=k`` releases the GIL in every k-th ``on_next`` so
    other threads get in while a signal runs.
    """

    def __init__(
        self,
        *,
        unbounded: bool = False,
        on_item: Callable[[Recorder[_T], _T], None] | None = None,
        pause_every: int = 0,
    ) -> None:
        self.unbounded = unbounded
        self.subscription: bp.Subscription | None = None
        self.values: list[_T] = []
        self.errors: list[Exception] = []
        self.completions = 0
        self.violations: list[str] = []
        self.requested = 0
        self.budget = 0
        self.received_at_cancel: int | None = None
        self.subscribed = threading.Event()
        self.terminated = threading.Event()
        self.changed = threading.Condition()
        self._signal = threading.Lock()
        self._signal_owner: tuple[int, str] | None = None
        self._on_item = on_item
        self._pause_every = pause_every

    # -- what was seen ----------------------------------------------------------------------

    @property
    def received(self) -> int:
        return len(self.values)

    @property
    def outcome(self) -> str:
        with self.changed:
            ends = [f"on_error({error!r})" for error in self.errors]
            ends += ["on_completed"] * self.completions
            requested = "unbounded demand" if self.unbounded else f"{self.requested} requested"
            outcome = f"{len(self.values)} on_next, {requested}, ends: {', '.join(ends) or 'none'}"
            if self.violations:
                outcome += f"; {len(self.violations)} broken rules, first: {self.violations[0]}"
            return outcome

    # -- the subscriber side ----------------------------------------------------------------

    def on_subscribe(self, subscription: bp.Subscription) -> None:
        owned = self._enter("on_subscribe")
        try:
            with self.changed:
                if self.subscription is not None:
                    self._violation("rule 1.9: on_subscribe called a second time")
                if self.values or self.errors or self.completions:
                    self._violation("rule 1.9: on_subscribe came after another signal")
                self.subscription = subscription
                self.changed.notify_all()
            self.subscribed.set()
        finally:
            self._leave(owned)

    def on_next(self, value: _T) -> None:
        owned = self._enter("on_next")
        try:
            with self.changed:
                if not self.unbounded and self.subscription is None:
                    self._violation(f"rule 1.9: on_next({value!r}) before on_subscribe")
                if self.errors or self.completions:
                    self._violation(f"rule 1.7: on_next({value!r}) after the stream ended")
                if not self.unbounded and len(self.values) >= self.requested:
                    self._violation(
                        f"rule 1.1: on_next({value!r}) is item {len(self.values) + 1}"
                        f" but only {self.requested} were requested"
                    )
                self.values.append(value)
                self.changed.notify_all()
                pause = self._pause_every > 0 and len(self.values) % self._pause_every == 0
            if pause:
                time.sleep(0)
            if self._on_item is not None:
                self._on_item(self, value)
        finally:
            self._leave(owned)

    def on_error(self, error: Exception) -> None:
        self._end(f"on_error({error!r})", error)

    def on_completed(self) -> None:
        self._end("on_completed", None)

    @property
    def callbacks(
        self,
    ) -> tuple[Callable[[_T], None], Callable[[Exception], None], Callable[[], None]]:
        """``(on_next, on_error, on_completed)`` for a plain-callback subscription."""
        return self.on_next, self.on_error, self.on_completed

    # -- demand -----------------------------------------------------------------------------

    def cancel(self) -> None:
        self._call("cancel", None)
        with self.changed:
            if self.received_at_cancel is None:
                self.received_at_cancel = len(self.values)
            self.changed.notify_all()

    def allow(self, budget: int) -> None:
        """Let the requesters ask for ``budget`` items in all."""
        with self.changed:
            self.budget = budget

    def demand(
        self, rng: random.Random, *, threshold: int, most: int, stop: threading.Event
    ) -> None:
        """A requester thread's body: ``request(k)`` (k from 1 to ``most``) whenever no more
        than ``threshold`` requested items are outstanding, until the budget is spent, the
        stream ends, ``stop`` is set, or the case times out."""
        if not self.subscribed.wait(TIMEOUT):
            return
        deadline = time.monotonic() + TIMEOUT
        while True:
            with self.changed:
                while True:
                    if stop.is_set() or self.errors or self.completions or self.budget <= 0:
                        return
                    if time.monotonic() > deadline:
                        return
                    if self.requested - len(self.values) <= threshold:
                        break
                    self.changed.wait(0.01)
                grant = min(rng.randint(1, most), self.budget)
                self.budget -= grant
                self.requested += grant
                self.changed.notify_all()
            if rng.random() < 0.3:
                time.sleep(0)  # let another requester in between the count and the call
            self._call("request", grant)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (holding ``changed`` to test) until ``predicate()``; False on timeout."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    # -- checks -----------------------------------------------------------------------------

    def check_rules(self, case: Case) -> None:
        case.check(
            not self.violations,
            lambda: (
                "broken rules:\n      "
                + "\n      ".join(self.violations[:10])
                + (
                    f"\n      ... and {len(self.violations) - 10} more"
                    if len(self.violations) > 10
                    else ""
                )
            ),
        )

    def check_completed_once(self, case: Case) -> None:
        case.check(
            self.completions == 1 and not self.errors,
            lambda: f"expected exactly one on_completed and no on_error; got {self.outcome}",
        )

    # -- internals --------------------------------------------------------------------------

    def _end(self, signal: str, error: Exception | None) -> None:
        owned = self._enter(signal)
        try:
            with self.changed:
                if not self.unbounded and self.subscription is None:
                    self._violation(f"rule 1.9: {signal} before on_subscribe")
                if self.errors or self.completions:
                    self._violation(f"rule 1.7: {signal} after the stream had ended")
                if error is None:
                    self.completions += 1
                else:
                    self.errors.append(error)
                self.changed.notify_all()
            self.terminated.set()
        finally:
            self._leave(owned)

    def _call(self, what: str, n: int | None) -> None:
        subscription = self.subscription
        if subscription is None:
            self._violation(f"{what} called before on_subscribe handed over a subscription")
            return
        try:
            if n is None:
                subscription.cancel()
            else:
                subscription.request(n)
        except Exception as error:  # rules 3.15, 3.16: request and cancel never raise
            self._violation(f"rules 3.15/3.16: {what}({'' if n is None else n}) raised {error!r}")

    def _enter(self, signal: str) -> bool:
        me = threading.get_ident()
        if self._signal.acquire(blocking=False):
            self._signal_owner = (me, signal)
            return True
        owner = self._signal_owner
        if owner is not None and owner[0] == me:
            self._violation(f"rule 3.3: {signal} re-entered from inside {owner[1]} on one thread")
        else:
            running = f"{owner[1]} on thread {owner[0]}" if owner else "another signal"
            self._violation(f"rule 1.3: {signal} on thread {me} overlapped {running}")
        return False

    def _leave(self, owned: bool) -> None:
        if owned:
            self._signal_owner = None
            self._signal.release()

    def _violation(self, message: str) -> None:
        with self.changed:
            self.violations.append(message)


class Threads:
    """The threads of one case: daemons, each exception kept, every join with a deadline.

    As a context manager it runs the registered cleanups on the way out (cancel, stop the
    producers) and gives the threads a moment to end, so that a failed case leaves as little
    running behind it as it can; the test asserts on :meth:`join` itself before that.
    """

    def __init__(self, case: Case) -> None:
        self.case = case
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._cleanups: list[Callable[[], None]] = []
        self._context = contextlib.ExitStack()

    def start(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                self.errors.append(f"{name}: {error!r}")

        thread = threading.Thread(target=run, name=f"stress-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def on_exit(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def join(self, timeout: float = TIMEOUT) -> list[str]:
        """Join every thread within ``timeout`` in all; the names of those still running."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in self.threads if thread.is_alive()]

    def check_joined(self, timeout: float = TIMEOUT, *, state: Callable[[], str]) -> None:
        hung = self.join(timeout)
        self.case.check(
            not hung, lambda: f"threads still running after {timeout} s: {hung}; {state()}"
        )
        self.check_errors()

    def check_errors(self) -> None:
        self.case.check(
            not self.errors, lambda: "exceptions in threads:\n      " + "\n      ".join(self.errors)
        )

    def __enter__(self) -> Threads:
        self._context.enter_context(interleaved())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop.set()
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):  # it must not mask the case's own failure
                cleanup()
        self.join(timeout=0.5 if exc is not None else TIMEOUT)
        self._context.close()


def run_with_timeout(
    case: Case,
    what: str,
    body: Callable[[], _T],
    *,
    state: Callable[[], str] = lambda: "",
    timeout: float = TIMEOUT,
) -> _T:
    """Run ``body`` on a daemon thread and return its result; fail the case, with ``state()``
    in the message, if it hangs."""
    result: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(body())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name=f"stress-{what}", daemon=True)
    with interleaved():
        thread.start()
        thread.join(timeout)
    if thread.is_alive():
        case.fail(f"{what} did not return within {timeout} s (hung): {state()}")
    if failure:
        raise failure[0]
    return result[0]


def threads_now() -> set[threading.Thread]:
    return set(threading.enumerate())


def check_no_thread_left(
    case: Case, before: set[threading.Thread], timeout: float = TIMEOUT
) -> None:
    """Every thread started since ``before`` has ended, and ``active_count`` is back."""
    deadline = time.monotonic() + timeout

    def left() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    while left() and time.monotonic() < deadline:
        time.sleep(0.01)
    remaining = left()
    case.check(
        not remaining and threading.active_count() <= len(before),
        lambda: (
            f"threads left running: {[t.name for t in remaining]};"
            f" active_count {threading.active_count()}, before the case {len(before)}"
        ),
    )


def settle_count(recorder: Recorder[Any]) -> int:
    """``recorder.received`` after other threads had ``SETTLE`` seconds to deliver more."""
    time.sleep(SETTLE)
    return recorder.received
