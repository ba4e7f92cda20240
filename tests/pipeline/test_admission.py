"""Admission control with an injected clock."""

from __future__ import annotations

import pytest

from pipeline.admission import Admission
from pipeline.errors import Overloaded


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_refuses_beyond_max_pending_and_counts_refusals() -> None:
    admission = Admission(2, Clock())
    admission.admit()
    admission.admit()
    with pytest.raises(Overloaded, match="2 images pending, the limit is 2"):
        admission.admit()
    assert (admission.pending, admission.rejected) == (2, 1)
    admission.done(served=True)
    admission.admit()


def test_jobs_leave_a_quarter_of_the_slots_to_interactive_callers() -> None:
    admission = Admission(4, Clock())
    for _ in range(3):
        admission.admit(interactive=False)
    with pytest.raises(Overloaded, match="3 images pending, the limit is 3"):
        admission.admit(interactive=False)
    admission.admit(interactive=True)
    assert admission.pending == 4


def test_learns_the_cost_per_image_only_while_busy() -> None:
    clock = Clock()
    admission = Admission(10, clock)
    for _ in range(3):
        admission.admit()
    clock.now += 5.0  # the first completion: no earlier busy completion to measure from
    admission.done(served=True)
    assert admission.seconds_per_image is None
    clock.now += 0.5
    admission.done(served=True)
    assert admission.seconds_per_image == pytest.approx(0.5)
    clock.now += 0.5
    admission.done(served=True)  # now idle
    clock.now += 30.0  # idle time is not image time
    admission.admit()
    clock.now += 0.5
    admission.done(served=True)
    assert admission.seconds_per_image == pytest.approx(0.5)


def test_refuses_an_image_that_would_miss_its_deadline() -> None:
    clock = Clock()
    admission = Admission(10, clock)
    admission.seconds_per_image = 0.5
    admission.admit(deadline=clock.now + 0.1)  # nothing ahead of it: always admitted
    admission.admit(deadline=clock.now + 1.25)  # 2 images x 0.5 s, with a 25% margin: in time
    with pytest.raises(Overloaded, match="past the deadline"):
        admission.admit(deadline=clock.now + 1.8)  # 3 x 0.5 s x 1.25 = 1.875 s
    admission.admit()  # no deadline: only the count applies
    assert (admission.pending, admission.rejected) == (3, 1)


def test_refusals_carry_the_time_the_queue_needs_to_clear() -> None:
    clock = Clock()
    admission = Admission(2, clock)
    admission.admit()
    admission.admit()
    with pytest.raises(Overloaded) as unknown_rate:
        admission.admit()
    assert unknown_rate.value.retry_after_s is None  # nothing measured yet: no hint
    admission.seconds_per_image = 0.4
    with pytest.raises(Overloaded) as refused:
        admission.admit()
    assert refused.value.retry_after_s == pytest.approx(0.8)


def test_max_pending_is_validated() -> None:
    with pytest.raises(ValueError, match="max_pending must be >= 1, got 0"):
        Admission(0)
