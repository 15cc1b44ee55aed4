"""Two reviews of one day at once (POST /clearing/days/{day}/review beside `ykt clearing
review`). Each read the day's open flags before the other had written its own, so on
PostgreSQL the second flagged the same record again: two counter-gap flags for one gap (3 of
12 races in the audit). When the missing record arrived, the next review resolved only one of
the two (it keys open flags by record), leaving a flag open and `open_gaps` wrong for good.
The interleaving is forced: the second review runs while the first, its flags read, is about
to write them. On SQLite the second waits at BEGIN IMMEDIATE for the first."""

from __future__ import annotations

import pytest

from tests.clearing.conftest import DAY, at
from tests.conftest import second_while_first_holds
from yikatong.clearing.rules import Reason

pytestmark = pytest.mark.db


def _a_day_missing_a_record(world, *, missing_at: int):
    """Our card's taps at 8:00 and 19:00 uploaded, the one between them (`missing_at`, on
    another line) not yet: a counter gap, and a fare mismatch too when the missing tap would
    have made the 19:00 one a transfer. The validator whose file is still to come."""
    card = world.card()
    morning, elsewhere = world.bus(), world.bus("B1")
    world.tap(morning, card, at(8))
    world.tap(elsewhere, card, at(missing_at))
    world.tap(morning, card, at(19))
    world.upload(world.terminal_file(morning))
    return elsewhere


@pytest.mark.parametrize(("missing_at", "mismatches"), [(12, 0), (18, 1)], ids=["gap", "gap-and-fare"])
def test_two_reviews_of_one_day_at_once_flag_each_record_once(world, missing_at, mismatches):
    late = _a_day_missing_a_record(world, missing_at=missing_at)

    outcome = second_while_first_holds(world.platform, "INSERT INTO clearing_exceptions",
                                       lambda: world.review(DAY), lambda: world.review(DAY))

    errors = {name: result for name, result in outcome.items() if isinstance(result, Exception)}
    assert not errors, errors
    assert len(world.exceptions(Reason.COUNTER_GAP)) == 1
    assert len(world.exceptions(Reason.FARE_MISMATCH)) == mismatches
    assert sum(result.gaps_opened for result in outcome.values()) == 1

    world.upload(world.terminal_file(late))  # the missing record arrives
    review = world.review(DAY)
    assert (review.gaps_resolved, review.open_gaps, review.open_mismatches) == (1, 0, 0)
    assert world.exceptions(Reason.COUNTER_GAP) == world.exceptions(Reason.FARE_MISMATCH) == []
