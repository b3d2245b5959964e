"""The demand rule suite passes for compliant sources and catches each planted violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


# -- the report ------------------------------------------------------------------------


def failure_of(kind: str) -> str:
    with pytest.raises(AssertionError) as failure:
        verify_flowable(lambda n: broken_flowable(n, kind))
    return str(failure.value)


def test_each_broken_rule_is_reported_once_with_the_checks_that_saw_it() -> None:
    assert failure_of("over_deliver") == (
        "demand rules broken:\n"
        "  rule 1.1: item 2 delivered with only 1 requested (value -1) (seen by spec101, spec306)\n"
        "  rule 1.2: requested 13 of 8: received 9, completed=True (seen by spec102)\n"
        "  rule 1.5: unbounded demand: received 9 of 8, completed=True (seen by spec105)\n"
        "  rule 1.8: after cancel in the first on_next, 2 items and 0 terminal signals arrived"
        " (seen by spec312)\n"
        "  rule 3.2: request(1) per on_next gave 9 of 8 items, completed=True (seen by spec302)\n"
        "  rule 3.17: demand at 2**63-1 gave 9 of 8 items, errors [], completed=True"
        " (seen by spec317)"
    )
    every_check = (
        "spec101, spec102, spec105, spec107, spec109, spec302, spec306, spec309, spec312, spec317"
    )
    assert failure_of("double_subscribe") == (
        "demand rules broken:\n"
        f"  rule 2.5: on_subscribe called more than once (seen by {every_check})"
    )


def test_a_source_that_never_calls_on_subscribe_stops_every_check_at_once() -> None:
    assert failure_of("signal_before_subscribe") == (
        "demand rules broken:\n"
        "  rule 1.9: on_next before on_subscribe (seen by spec101, spec102, spec105, spec107,"
        " spec109, spec302, spec303, spec306, spec309, spec312, spec317)"
    )


def test_a_call_that_raises_breaks_the_rule_that_it_return_normally() -> None:
    assert failure_of("raise_on_request") == (
        "demand rules broken:\n"
        "  rule 3.9: request(0) should signal ValueError, got [] (seen by spec309)\n"
        "  rule 3.16: request(0) raised ValueError: bad request 0 (seen by spec309)"
    )


def test_a_failure_in_pytest_shows_the_test_line_not_the_kit(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).with_name("broken_flowable.py"), tmp_path)
    (tmp_path / "test_broken.py").write_text(
        "from broken_flowable import broken_flowable\n"
        "from rx_backpressure.testing import verify_flowable\n"
        "\n"
        "def test_it():\n"
        "    verify_flowable(lambda n: broken_flowable(n, 'keep_reference'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    report = run.stdout[run.stdout.index("_ test_it _") : run.stdout.index("short test summary")]
    assert report.splitlines()[2:-1] == [
        "    def test_it():",
        ">       verify_flowable(lambda n: broken_flowable(n, 'keep_reference'))",
        "E       AssertionError: demand rules broken:",
        "E         rule 3.13: the subscriber is still referenced after cancel() (seen by spec313)",
        "",
        "test_broken.py:5: AssertionError",
    ]
