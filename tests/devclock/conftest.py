"""The platform runs on a movable clock here, as `ykt serve` gives it in development; its base
is a fixed clock so the tests do not depend on the real time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yikatong.core.clock import FixedClock, MovableClock


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(base=FixedClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC)))
