"""The movable clock: starts where told, keeps running with its base, never goes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yikatong.core.clock import FixedClock, MovableClock, parse_local

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def test_starts_at_the_chosen_instant_and_runs_with_its_base():
    base = FixedClock(T0)
    clock = MovableClock(datetime(2036, 3, 10, 1, 0, tzinfo=UTC), base=base)
    assert clock.now() == datetime(2036, 3, 10, 1, 0, tzinfo=UTC) and clock.moved
    base.advance(seconds=90)
    assert clock.now() == datetime(2036, 3, 10, 1, 1, 30, tzinfo=UTC)


def test_unmoved_it_reads_its_base_and_moves_only_forward():
    clock = MovableClock(base=FixedClock(T0))
    assert clock.now() == T0 and not clock.moved
    assert clock.advance(timedelta(days=7)) == T0 + timedelta(days=7) and clock.moved
    with pytest.raises(ValueError):
        clock.set(T0)
    assert clock.now() == T0 + timedelta(days=7)
    with pytest.raises(ValueError):
        MovableClock(datetime(2036, 3, 10))  # a naive start is ambiguous


def test_a_typed_time_is_changzhou_time_unless_it_names_its_zone():
    assert parse_local("2036-03-10T09:00") == datetime(2036, 3, 10, 1, 0, tzinfo=UTC)
    assert parse_local("2036-03-10T09:00+00:00") == datetime(2036, 3, 10, 9, 0, tzinfo=UTC)
