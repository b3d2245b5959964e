"""What a running pipeline looks like: one frozen snapshot per stage, read on demand.

Every stage of a subscription (a source, an operator of ours, a bridged run of reactivex
operators, a push segment) answers :func:`inspect` with a :class:`StageSnapshot`. Nothing
is pushed per item: a stage keeps plain counters where items already pass, and a snapshot
reads them, with the stage's own state, when someone asks.

How the walk finds the stages
-----------------------------
``inspect`` starts at the subscription a subscriber holds and follows each stage's link
upstream (``_inspect_links``). A Drain knows its upstream subscription. Above a push
source the link is a reactivex disposable that says nothing; so while a stage subscribes a
push source it *collects* (:func:`collecting`) the subscriptions that Flowables hand to
the plain observers subscribed meanwhile (reactivex operators subscribe their sources
synchronously), and the walk goes on from them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sized
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ._demand import UNBOUNDED

_local = threading.local()


@dataclass(frozen=True)
class StageSnapshot:
    """One stage of a pipeline, as it was at one moment.

    Figures that a stage cannot know are None (a Flowable of someone else's making, a
    plain Observable pushing into the pipeline). Demand figures may be :data:`UNBOUNDED`.

    - ``name``: the name it was given, or its call, e.g. ``bounded_buffer(1000)``
    - ``kind``: ``"source"``, ``"operator"``, ``"bridge"`` (reactivex operators whose
      demand is kept exact), ``"push"`` (a push segment or a plain Observable upstream)
    - ``capacity``: the most items it may hold (or ask ahead for, its prefetch)
    - ``held``: items it holds right now
    - ``demand``: demand from downstream not yet met
    - ``pending``: asked for upstream and not yet received
    - ``received``, ``emitted``, ``dropped``: counts since the subscription started
    - ``state``: what else the stage knows, e.g. the circuit state or the tokens left
    - ``ended``: whether the stage's subscription is over (completed, failed or cancelled)
    """

    name: str
    kind: str
    capacity: int | None = None
    held: int | None = None
    demand: int | None = None
    pending: int | None = None
    received: int | None = None
    emitted: int | None = None
    dropped: int | None = None
    state: Mapping[str, object] = field(default_factory=dict)
    ended: bool = False

    def describe_state(self) -> str:
        """``state`` as ``key=value`` pairs, in the stage's order."""
        return ", ".join(f"{key}={_show_value(value)}" for key, value in self.state.items())


_COLUMNS = (
    ("stage", "name"),
    ("kind", "kind"),
    ("capacity", "capacity"),
    ("held", "held"),
    ("demand", "demand"),
    ("pending", "pending"),
    ("received", "received"),
    ("emitted", "emitted"),
    ("dropped", "dropped"),
)


def _show_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return "unbounded" if value >= UNBOUNDED else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Pipeline:
    """Every stage of one subscription, source first, the subscriber's own stage last.

    ``str(pipeline)`` is an aligned table; ``pipeline["bounded_buffer(10)"]`` finds a stage
    by name; iterating gives the stages in order.
    """

    stages: tuple[StageSnapshot, ...]

    def __iter__(self) -> Iterator[StageSnapshot]:
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def __getitem__(self, key: int | str) -> StageSnapshot:
        if isinstance(key, int):
            return self.stages[key]
        for stage in self.stages:
            if stage.name == key:
                return stage
        names = ", ".join(repr(stage.name) for stage in self.stages)
        raise KeyError(f"no stage named {key!r}; the stages are {names}")

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names, source first."""
        return tuple(stage.name for stage in self.stages)

    def table(self) -> str:
        """The stages as an aligned table, one row each, source first."""
        rows = [[title for title, _ in _COLUMNS] + ["state"]]
        for stage in self.stages:
            cells = [_show_value(getattr(stage, attr)) for _, attr in _COLUMNS]
            rows.append([*cells, stage.describe_state()])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = []
        for row in rows:
            cells = [
                cell.ljust(width) if i in (0, 1, len(row) - 1) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


@runtime_checkable
class Inspectable(Protocol):
    """A stage that :func:`inspect` can read: its snapshot and its links upstream."""

    def _inspect_stage(self) -> StageSnapshot: ...

    def _inspect_links(self) -> list[object]: ...


def inspect(subscription: object) -> Pipeline:
    """Every stage from the source to ``subscription``, each as a frozen snapshot.

    ``subscription`` is what a subscriber was handed in ``on_subscribe`` (or what
    ``Flowable.subscribe`` returned). Stages are read one at a time without stopping the
    flow, so on a busy pipeline on several threads the figures of neighbouring stages may
    be a few items apart; on one thread or on virtual time they are exact.
    """
    if not isinstance(subscription, Inspectable):
        raise TypeError(
            f"inspect() takes the subscription of a Flowable, got {type(subscription).__name__}"
        )
    return Pipeline(tuple(_stages_above(subscription, set())))


def _stages_above(node: object, seen: set[int]) -> list[StageSnapshot]:
    """``node``'s stage and every stage above it, source first."""
    stages: list[StageSnapshot] = []
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, Inspectable):
            own = node._inspect_stage()
            links = node._inspect_links()
        else:
            # Someone else's Flowable: a stage we can name but not read.
            own = StageSnapshot(name=type(node).__name__, kind="flowable")
            links = []
        stages.insert(0, own)
        for side in links[1:]:  # side branches (merge, zip): walked in full
            stages[0:0] = _stages_above(side, seen)
        node = links[0] if links else None
    return stages


class ConsumerBox(Protocol):
    """What a consumer of ours (``to_iterable``, ``async for``) keeps, as its stage is read:
    ``requested`` so far, ``received`` (sent to it), ``lost`` (discarded when closed
    early), ``items`` and ``taken`` (held for its reader), ``finished``, ``prefetch``."""

    requested: int
    received: int
    lost: int
    finished: bool
    prefetch: int

    @property
    def items(self) -> Sized: ...

    @property
    def taken(self) -> Sized: ...


def consumer_stage(
    name: str, box: ConsumerBox, lock: AbstractContextManager[object]
) -> StageSnapshot:
    """The stage of a consumer of ours, read from ``box`` under ``lock``."""
    with lock:
        received, lost, requested = box.received, box.lost, box.requested
        held = len(box.items) + len(box.taken)
        ended = box.finished
    return StageSnapshot(
        name=name,
        kind="subscriber",
        capacity=box.prefetch,
        held=held,
        pending=0 if ended else max(requested - received, 0),
        received=received,
        emitted=received - held - lost,
        dropped=lost,
        ended=ended,
    )


# -- push segments ------------------------------------------------------------------------


@contextmanager
def collecting(into: list[object]) -> Iterator[None]:
    """While a stage subscribes a push source on this thread, collect the subscriptions of
    Flowables subscribed by plain observers meanwhile: they are that stage's upstream."""
    previous = getattr(_local, "collector", None)
    _local.collector = into
    try:
        yield
    finally:
        _local.collector = previous


def collector() -> list[object] | None:
    """The list a push source's subscriber collects into on this thread, if any."""
    found: list[object] | None = getattr(_local, "collector", None)
    return found


# -- names --------------------------------------------------------------------------------


def show_argument(value: object) -> str:
    """An argument as a stage's default name shows it: a function by its name, a short
    value by its repr, anything longer by its type."""
    name = getattr(value, "__name__", None)
    if isinstance(name, str) and not isinstance(value, type):
        return name
    if isinstance(value, (int, float, str, bool, type(None), range)):
        text = repr(value)
        if len(text) <= 40:
            return text
    if isinstance(value, type):
        return value.__name__
    return type(value).__name__


def call_name(function: str, *args: object, **kwargs: object) -> str:
    """A stage's default name: its call, e.g. ``bounded_buffer(1000, overflow='drop')``.

    Pass only the keyword arguments that differ from their defaults.
    """
    parts = [show_argument(arg) for arg in args]
    parts += [f"{key}={show_argument(value)}" for key, value in kwargs.items()]
    return f"{function}({', '.join(parts)})"


def stage_name(name: str | None, default: Callable[[], str]) -> str:
    """``name`` if given (checked), else ``default()``."""
    if name is None:
        return default()
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str or None, got name={name!r}")
    return name
