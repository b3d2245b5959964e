"""The demand rule suite passes for compliant sources and catches each planted violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from broken_flowable import broken_flowable

import rx_backpressure as bp
from rx_backpressure.testing import verify_flowable


def _generator(n: int) -> Iterator[int]:
    yield from range(n)


def test_from_iterable_over_a_range_passes_every_rule() -> None:
    verify_flowable(lambda n: bp.from_iterable(range(n)))


def test_from_iterable_over_a_generator_passes_every_rule() -> None:
    verify_flowable(lambda n: bp.from_iterable(_generator(n)))


def test_from_iterable_over_a_one_shot_iterator_passes_every_rule() -> None:
    verify_flowable(lambda n: bp.from_iterable(iter(list(range(n)))), elements=20)


def test_the_correct_test_source_passes_every_rule() -> None:
    verify_flowable(lambda n: broken_flowable(n))


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("over_deliver", "spec101"),
        ("under_deliver", "spec101"),
        ("never_complete", "spec105"),
        ("after_complete", "spec107"),
        ("signal_before_subscribe", "spec109"),
        ("double_subscribe", "spec109"),
        ("recurse", "spec303"),
        ("ignore_cancel", "spec312"),
        ("accept_zero", "spec309"),
        ("no_type_check", "spec309"),
        ("raise_on_request", "spec309"),
        ("keep_reference", "spec313"),
        ("overflow_error", "spec317"),
    ],
)
def test_each_planted_violation_fails_its_rule(kind: str, rule: str) -> None:
    with pytest.raises(AssertionError) as failure:
        verify_flowable(lambda n: broken_flowable(n, kind))
    assert rule in str(failure.value)


def test_ignoring_cancel_also_breaks_request_after_cancel() -> None:
    with pytest.raises(AssertionError, match=r"spec306"):
        verify_flowable(lambda n: broken_flowable(n, "ignore_cancel"))


def test_verify_flowable_rejects_too_few_elements() -> None:
    with pytest.raises(ValueError, match="elements must be >= 2, got 1"):
        verify_flowable(lambda n: bp.from_iterable(range(n)), elements=1)


def test_skip_leaves_a_rule_out() -> None:
    verify_flowable(lambda n: broken_flowable(n, "keep_reference"), skip=("spec313",))
