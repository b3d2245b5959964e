"""Every stage is named: by its call by default, by ``name=`` when given, and a bad name is
refused at construction, naming ``name``.

Each factory is applied and subscribed, and the name read back through ``inspect``: the
stage's own name, as the table, the exporters and the log lines show it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from reactivex import Observable
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rx_backpressure as bp
from rx_backpressure import inspect
from rx_backpressure.testing import TestSubscriber

# -- named functions, as a default name shows them ----------------------------------------


def send(item: Any) -> Any:
    return item


async def fetch(item: Any) -> Any:
    return item


def listen(emitter: bp.Emitter[Any]) -> None:
    return None


def step(state: int, emitter: bp.Emitter1[int]) -> int:
    emitter.complete()
    return state


def read_rows() -> Iterator[int]:
    yield from range(3)


async def ticks() -> AsyncIterator[int]:
    yield 1


def price(item: Any) -> float:
    return 1.0


def halve(size: int, took: float, target: float) -> int:
    return size // 2


def last_name_of(subscription: object) -> str:
    return inspect(subscription)[-1].name


def operator_name(operator: Callable[[Observable[Any]], bp.Flowable[Any]]) -> str:
    """The name of ``operator``'s stage, applied to a push source and subscribed."""
    subject: Subject[Any] = Subject()
    subscription = operator(subject).subscribe(TestSubscriber(0), scheduler=TestScheduler())
    return last_name_of(subscription)


def source_name(source: bp.Flowable[Any]) -> str:
    return inspect(source.subscribe(TestSubscriber(0), scheduler=TestScheduler()))[0].name


# -- default names ---------------------------------------------------------------------

OPERATORS: list[tuple[Callable[[Observable[Any]], bp.Flowable[Any]], str]] = [
    (bp.bounded_buffer(1000), "bounded_buffer(1000)"),
    (bp.bounded_buffer(1000, overflow="error"), "bounded_buffer(1000, overflow='error')"),
    (bp.bounded_buffer(8, timeout=2.5), "bounded_buffer(8, timeout=2.5)"),
    (bp.shed(100), "shed(100)"),
    (bp.shed(100, strategy="head", on_drop=print), "shed(100, strategy='head')"),
    (bp.token_bucket(10, 5.0), "token_bucket(10, 5.0)"),
    (
        bp.token_bucket(10, 5.0, cost=price, mode="drop", max_pending=8),
        "token_bucket(10, 5.0, cost=price, mode='drop', max_pending=8)",
    ),
    (bp.rate_limit(50), "rate_limit(50)"),
    (bp.rate_limit(0.5), "rate_limit(0.5)"),
    (bp.circuit_break(send), "circuit_break(send)"),
    (bp.circuit_break(send, on_failure="skip"), "circuit_break(send, on_failure='skip')"),
    (bp.adaptive_batch(), "adaptive_batch()"),
    (
        bp.adaptive_batch(initial_size=10, max_size=50, rule=halve),
        "adaptive_batch(initial_size=10, max_size=50, rule=halve)",
    ),
    (bp.map_async(fetch), "map_async(fetch, concurrency=8)"),
    (
        bp.map_async(fetch, concurrency=2, ordered=False, timeout=1.5),
        "map_async(fetch, concurrency=2, ordered=False, timeout=1.5)",
    ),
]


@pytest.mark.parametrize(
    ("operator", "expected"), OPERATORS, ids=[expected for _, expected in OPERATORS]
)
def test_an_operator_is_named_by_its_call_with_the_options_that_differ_from_their_defaults(
    operator: Callable[[Observable[Any]], bp.Flowable[Any]], expected: str
) -> None:
    assert operator_name(operator) == expected


SOURCES: list[tuple[Callable[[], bp.Flowable[Any]], str]] = [
    (lambda: bp.from_iterable(range(10)), "from_iterable(range(0, 10))"),
    (lambda: bp.from_iterable(read_rows()), "from_iterable(read_rows)"),
    (lambda: bp.from_iterable([1, 2, 3]), "from_iterable(list)"),
    (lambda: bp.create(listen), "create(listen)"),
    (
        lambda: bp.create(listen, overflow="drop", capacity=4),
        "create(listen, overflow='drop', capacity=4)",
    ),
    (lambda: bp.generate(0, step), "generate(0, step)"),
    (lambda: bp.from_async_iterable(ticks()), "from_async_iterable(ticks)"),
]


@pytest.mark.parametrize(("make", "expected"), SOURCES, ids=[expected for _, expected in SOURCES])
def test_a_source_is_named_by_its_call(make: Callable[[], bp.Flowable[Any]], expected: str) -> None:
    assert source_name(make()) == expected


def test_the_consumers_are_named_by_their_prefetch_and_come_last() -> None:
    iterator = bp.to_iterable(bp.from_iterable(range(3)))
    assert next(iterator) == 0
    assert inspect(iterator).names == ("from_iterable(range(0, 3))", "to_iterable(prefetch=64)")
    iterator.close()

    async def main() -> tuple[str, ...]:
        flow = bp.from_iterable(range(3)).pipe(bp.shed(2))
        async with bp.to_async_iterable(flow, prefetch=2) as items:
            assert await items.__anext__() == 0
            return inspect(items).names

    names = asyncio.run(main())
    assert names == (
        "from_iterable(range(0, 3))",
        "shed(2)",
        "to_async_iterable(prefetch=2)",
    )


def test_a_metrics_without_a_name_takes_its_stages_name() -> None:
    metrics = bp.Metrics()
    bp.from_iterable(range(3)).pipe(bp.shed(2, metrics=metrics)).subscribe(TestSubscriber())
    assert metrics.name == "shed(2)"


# -- names given -----------------------------------------------------------------------

NAMED: list[tuple[str, Callable[[str], Any]]] = [
    ("bounded_buffer", lambda name: bp.bounded_buffer(4, name=name)),
    ("shed", lambda name: bp.shed(4, name=name)),
    ("token_bucket", lambda name: bp.token_bucket(2, 1.0, name=name)),
    ("rate_limit", lambda name: bp.rate_limit(2, name=name)),
    ("circuit_break", lambda name: bp.circuit_break(send, name=name)),
    ("adaptive_batch", lambda name: bp.adaptive_batch(name=name)),
    ("map_async", lambda name: bp.map_async(fetch, name=name)),
    ("from_iterable", lambda name: bp.from_iterable([1], name=name)),
    ("create", lambda name: bp.create(listen, name=name)),
    ("generate", lambda name: bp.generate(0, step, name=name)),
    ("from_async_iterable", lambda name: bp.from_async_iterable(ticks(), name=name)),
    ("to_iterable", lambda name: bp.to_iterable(bp.from_iterable([1]), name=name)),
    ("to_async_iterable", lambda name: bp.to_async_iterable(bp.from_iterable([1]), name=name)),
]


def name_of(made: Any) -> str:
    if isinstance(made, bp.Flowable):
        return source_name(made)
    if isinstance(made, bp.BlockingIterator | bp.AsyncFlowIterator):
        return inspect(made)[-1].name
    return operator_name(made)


@pytest.mark.parametrize(("factory", "make"), NAMED, ids=[factory for factory, _ in NAMED])
def test_a_name_given_is_the_stages_name(factory: str, make: Callable[[str], Any]) -> None:
    assert name_of(make("orders in")) == "orders in"


@pytest.mark.parametrize("bad", ["", 1, b"gate", True, ["gate"]], ids=repr)
@pytest.mark.parametrize(("factory", "make"), NAMED, ids=[factory for factory, _ in NAMED])
def test_a_bad_name_is_a_type_error_at_construction_naming_name_and_the_value(
    factory: str, make: Callable[[Any], Any], bad: object
) -> None:
    with pytest.raises(TypeError) as raised:
        make(bad)
    assert raised.type is TypeError
    assert f"name={bad!r}" in str(raised.value)


def test_name_is_keyword_only_and_last_in_every_factory() -> None:
    import inspect as introspect

    factories: list[Callable[..., object]] = [
        bp.bounded_buffer,
        bp.shed,
        bp.token_bucket,
        bp.rate_limit,
        bp.circuit_break,
        bp.adaptive_batch,
        bp.map_async,
        bp.from_iterable,
        bp.create,
        bp.generate,
        bp.from_async_iterable,
        bp.to_iterable,
        bp.to_async_iterable,
    ]
    for factory in factories:
        parameters = list(introspect.signature(factory).parameters.values())
        last = parameters[-1]
        assert (last.name, last.kind, last.default) == (
            "name",
            introspect.Parameter.KEYWORD_ONLY,
            None,
        ), factory.__name__
