"""The marble kit: exact times for any timespan, frame zero kept, demand in the diagrams."""

from __future__ import annotations

import pytest
from reactivex import operators as ops
from reactivex.scheduler import TimeoutScheduler
from reactivex.testing import ReactiveTest

import rx_backpressure as bp
from rx_backpressure.testing import DemandEvent, RuleViolation, marbles


def test_records_compare_with_reactivex_records() -> None:
    with marbles() as m:
        results = m.start(m.cold("a-b-|"))
        assert results == [
            ReactiveTest.on_next(200, "a"),
            ReactiveTest.on_next(202, "b"),
            ReactiveTest.on_completed(204),
        ]
        assert results == m.exp("a-b-|")


def test_a_hot_event_in_frame_zero_is_not_lost() -> None:
    with marbles() as m:
        assert m.start(m.hot("a-b|")) == m.exp("a-b|")


@pytest.mark.parametrize("timespan", [1.0, 0.1, 0.25, 0.01, 0.3])
def test_times_match_exactly_for_any_timespan(timespan: float) -> None:
    with marbles(timespan) as m:
        source = m.hot("a--b-----c-d--------------e|")
        results = m.start(source.pipe(ops.map(str.upper)))
        expected = m.exp("A--B-----C-D--------------E|")
        assert results == expected
        assert [r.time for r in results][-1] == round(200 + 27 * timespan, 6)


def test_caret_marks_the_subscription_frame_of_a_hot_source() -> None:
    with marbles() as m:
        source = m.hot("a-b^-c--d|")
        assert m.start(source) == m.exp("   --c--d|")
        assert m.subscriptions_of(source) == m.exp_subscriptions("^-----!")


def test_groups_values_lookup_and_errors() -> None:
    error = ValueError("broken")
    with marbles() as m:
        source = m.cold("(x,y)-z-#", lookup={"x": 10, "y": 20, "z": 30}, error=error)
        assert m.start(source) == m.exp(
            "(p,q)-r-#", lookup={"p": 10, "q": 20, "r": 30}, error=error
        )


def test_a_demand_diagram_drives_the_subscriber() -> None:
    with marbles() as m:
        source = m.pull("a-b-c-d-e-f-g-|")
        results = m.start(source, demand="2---1--*")
        on_next = ReactiveTest.on_next
        assert results == [
            on_next(200, "a"),
            on_next(200, "b"),
            on_next(204, "c"),
            *[on_next(207, v) for v in "defg"],
            ReactiveTest.on_completed(207),
        ]
        assert m.requests_of(source) == m.exp_requests("2---1--*")


def test_demand_amounts_through_a_lookup_and_cancel() -> None:
    with marbles() as m:
        source = m.pull(range(1000))
        results = m.start(source, demand="k--!", lookup={"k": 250})
        assert len(results) == 250
        assert m.requests_of(source) == [DemandEvent(200, 250), DemandEvent(203, None)]
        assert m.requests_of(source) == m.exp_requests("k--!", lookup={"k": 250})
        assert m.subscriptions_of(source) == m.exp_subscriptions("^--!")


def test_pull_diagram_terminals() -> None:
    with marbles() as m:
        endless = m.pull("a-b")
        assert m.start(endless, demand="*") == m.exp("(a,b)")
    with marbles() as m:
        failing = m.pull("a#", error=KeyError("k"))
        assert m.start(failing, demand="1----1") == m.exp("(a,#)", error=KeyError("k"))


def test_spy_records_the_demand_any_flowable_receives() -> None:
    with marbles() as m:
        spied = m.spy(bp.from_iterable(range(10)))
        m.start(spied, demand="3--2")
        assert m.requests_of(spied) == [*m.exp_requests("3--2"), DemandEvent(1000, None)]


def test_the_subscription_is_disposed_at_one_thousand() -> None:
    with marbles() as m:
        source = m.hot("a-------")
        m.start(source)
        assert m.subscriptions_of(source) == [ReactiveTest.subscribe(200, 1000)]


def test_work_scheduled_on_a_real_time_scheduler_fails_loudly() -> None:
    original = TimeoutScheduler.schedule_relative
    real_time = TimeoutScheduler.singleton()
    expected = r"TimeoutScheduler\.schedule_relative\(\) was called inside a virtual-time test"
    with pytest.raises(RuleViolation, match=expected), marbles() as m:
        m.start(m.cold("a|").pipe(ops.delay(1.0, scheduler=real_time)))
    assert TimeoutScheduler.schedule_relative is original, "the guard is lifted after the block"


def test_a_rule_broken_during_start_fails_the_block() -> None:
    with pytest.raises(RuleViolation, match=r"rule 1\.1"), marbles() as m:
        m.start(m.hot("a-b-c"), demand="1")


def test_bad_diagrams_are_rejected() -> None:
    with marbles() as m:
        with pytest.raises(ValueError, match="numbers, '\\*' and '!'"):
            m.demand("1-|")
        with pytest.raises(ValueError, match="ints or '\\*'"):
            m.demand("x")
        with pytest.raises(ValueError, match="needs '\\^'"):
            m.exp_subscriptions("--!")
        with pytest.raises(ValueError, match="comma outside a group"):
            m.exp("a,b")
        with pytest.raises(TypeError, match="pull\\(\\) or spy\\(\\)"):
            m.requests_of(m.hot("a"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timespan must be > 0"), marbles(0):
        pass
