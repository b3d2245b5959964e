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
        assert m.requests_of(spied) == m.exp_requests("3--2")


def test_the_subscription_is_disposed_at_one_thousand() -> None:
    with marbles() as m:
        source = m.hot("a-------")
        m.start(source)
        assert m.subscriptions_of(source) == [ReactiveTest.subscribe(200, 1000)]


def multiple_of_three(x: int) -> bool:
    return x % 3 == 0


def test_requests_of_leaves_out_the_cancel_of_the_disposal_at_one_thousand() -> None:
    with marbles() as m:
        source = m.pull(range(10))
        m.start(source.pipe(ops.filter(multiple_of_three)), demand="2")
        # 0 passes, 1 and 2 are swallowed and replaced, 3 passes; then nothing until the end
        assert m.requests_of(source) == m.exp_requests("(2,1,1)")
        assert m.requests_of(source, include_disposal=True) == [
            *m.exp_requests("(2,1,1)"),
            DemandEvent(1000, None),
        ]
        assert m.subscriptions_of(source) == [ReactiveTest.subscribe(200, 1000)]


def test_a_cancel_the_test_asks_for_is_kept_even_at_one_thousand() -> None:
    with marbles() as m:
        source = m.pull(range(10))
        m.start(source, demand="1" + "-" * 799 + "!")
        assert m.requests_of(source) == [DemandEvent(200, 1), DemandEvent(1000, None)]
    with marbles() as m:
        source = m.pull(range(10))
        m.start(source, demand="2", disposed=300)
        assert m.requests_of(source) == m.exp_requests("2")
        assert m.requests_of(source, include_disposal=True) == m.exp_requests("2" + "-" * 99 + "!")


def test_a_second_start_in_one_block_is_refused() -> None:
    with marbles() as m:
        m.start(m.pull("a-b-|"))
        with pytest.raises(RuntimeError) as refused:
            m.start(m.pull("c-|"))
    assert str(refused.value) == (
        "start() was already called in this marbles() block: its clock is at 1000, so a "
        "second start() would create and subscribe at 1000 instead of 100 and 200. Use a new "
        "`with marbles() as m:` block for each start()"
    )


def test_start_after_the_clock_passed_two_hundred_is_refused() -> None:
    with marbles() as m:
        m.scheduler.advance_to(200)
        m.start(m.pull("a-|"))  # still on time
    with marbles() as m:
        m.hot("a--|")
        m.run()  # runs as reactivex's TestScheduler.start() does: until 1000
        with pytest.raises(RuntimeError) as refused:
            m.start(m.pull("a-|"))
    assert str(refused.value) == (
        "start() after the clock passed 200: this marbles() block's clock is at 1000, so it "
        "would subscribe at 1000, not at 200 where every diagram's frame zero is. Call start() "
        "before run() or before advancing the scheduler past 200, or use a new "
        "`with marbles() as m:` block"
    )


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
        with pytest.raises(TypeError, match="include_disposal must be a bool, got 1"):
            m.requests_of(m.pull("a"), include_disposal=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timespan must be > 0"), marbles(0):
        pass
