"""The pure rules of tourism, one row per case: months added with the month's end clamped,
pass windows (3 months to activate, 1 year valid), free categories by age, what lets a person
in and the refusal that says most, and the checks of an uploaded entry."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yikatong.tourism import rules
from yikatong.tourism.rules import Candidate, Refusal

DAY = date(2026, 3, 2)


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 3, 2), 3, date(2026, 6, 2)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2026, 12, 15), 12, date(2027, 12, 15)),
])
def test_add_months(day, months, expected):
    assert rules.add_months(day, months) == expected


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(0, 36))
@settings(max_examples=30)
def test_add_months_never_moves_backwards_and_lands_in_the_right_month(day, months):
    later = rules.add_months(day, months)
    assert later >= day
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months


def test_pass_window_and_validity():
    assert rules.activate_by(DAY, 3) == date(2026, 6, 2)
    assert rules.validity(date(2026, 4, 1), 12) == (date(2026, 4, 1), date(2027, 3, 31))


@pytest.mark.parametrize(("valid_from", "valid_until", "day", "usable"), [
    (None, None, date(2026, 6, 2), True),      # not activated, last day of the window
    (None, None, date(2026, 6, 3), False),     # the window is over
    (date(2026, 4, 1), date(2027, 3, 31), date(2027, 3, 31), True),
    (date(2026, 4, 1), date(2027, 3, 31), date(2027, 4, 1), False),
    (date(2026, 4, 1), date(2027, 3, 31), date(2026, 3, 31), False),
])
def test_pass_usable(valid_from, valid_until, day, usable):
    assert rules.pass_usable(status="valid", activate_by_day=date(2026, 6, 2), valid_from=valid_from,
                             valid_until=valid_until, day=day) is usable


SENIOR = {"code": "senior", "min_age": 70}
CHILD = {"code": "child", "max_age": 5}


@pytest.mark.parametrize(("birth", "expected"), [
    (date(1956, 3, 2), "senior"),   # 70 today
    (date(1956, 3, 3), None),       # 70 tomorrow
    (date(2020, 3, 3), "child"),    # 5
    (date(2020, 3, 2), None),       # 6 today
    (None, None),
])
def test_free_category_by_age(birth, expected):
    assert rules.free_category([SENIOR, CHILD], birth, DAY) == expected


def _ticket(no="MP1", *, day=DAY, status="valid", venues=("DINO",)):
    return Candidate(ticket_no=no, kind="day_ticket", status=status, venue_codes=venues, day=day,
                     activate_by=None, valid_from=None, valid_until=None)


def _pass(no="NK1", *, status="valid", valid_from=None):
    return Candidate(ticket_no=no, kind="pass", status=status, venue_codes=("DINO", "TMH"), day=None,
                     activate_by=date(2026, 6, 2), valid_from=valid_from,
                     valid_until=None if valid_from is None else rules.validity(valid_from, 12)[1])


@pytest.mark.parametrize(("candidates", "entered", "free", "expected"), [
    ([_ticket(), _pass()], set(), None, ("ticket", "MP1")),
    ([_ticket(status="used"), _pass()], set(), None, ("pass", "NK1")),
    ([_ticket(status="used")], set(), None, Refusal.TICKET_USED),
    ([_ticket(day=date(2026, 3, 3))], set(), None, Refusal.WRONG_DAY),
    ([_ticket(venues=("TMH",))], set(), None, Refusal.NO_ENTITLEMENT),
    ([_pass()], {"NK1"}, None, Refusal.ALREADY_ENTERED),
    ([_pass()], {"NK1"}, "senior", ("free", "senior")),
    ([_pass(valid_from=date(2025, 1, 1))], set(), None, Refusal.PASS_NOT_VALID),
    ([], set(), None, Refusal.NO_ENTITLEMENT),
])
def test_choose_ground(candidates, entered, free, expected):
    assert rules.choose_ground(candidates, venue_code="DINO", day=DAY, entered_today=entered, free=free) == expected


@pytest.mark.parametrize(("candidate", "ground", "entered", "expected"), [
    (_ticket(), "ticket", False, None),
    (_ticket(status="used"), "ticket", False, Refusal.TICKET_USED),
    (_ticket(status="refunded"), "ticket", False, Refusal.TICKET_REFUNDED),
    (_ticket(venues=("TMH",)), "ticket", False, Refusal.WRONG_VENUE),
    (_pass(), "pass", False, None),
    (_pass(), "pass", True, Refusal.ALREADY_ENTERED),
    (None, "pass", False, Refusal.NO_ENTITLEMENT),
])
def test_check_entry(candidate, ground, entered, expected):
    assert rules.check_entry(candidate, ground=ground, venue_code="DINO", day=DAY, entered_today=entered,
                             free_ok=False) == expected


def test_ticket_numbers_and_request_ids():
    from datetime import UTC, datetime

    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert rules.ticket_no("day_ticket", at, 12) == "MP20260302000012"
    assert rules.ticket_no("pass", at, 12) == "NK20260302000012"
    assert len(rules.payment_request_id("k" * 100)) <= 64
    assert rules.payment_request_id("a" * 100) != rules.payment_request_id("a" * 99 + "b")


@pytest.mark.parametrize(("slot", "ok"), [("09:00-12:00", True), ("12:00-09:00", False), ("9:00-12:00", False),
                                          ("09:00-24:00", True), ("09:60-10:00", False), ("x", False)])
def test_valid_slot(slot, ok):
    assert rules.valid_slot(slot) is ok


# --- splitting a pass's revenue between its venues ------------------------------------------

VENUES = ["DINO", "TMH", "YANC", "CZMUS", "V5", "V6"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amount=st.integers(min_value=0, max_value=10**12),
       weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=len(VENUES)))
def test_the_shares_always_sum_to_the_sale(amount, weights):
    """Whatever the amount and weights: the shares sum exactly to the sale, none is negative,
    each is within one fen of its exact proportion, a venue of weight 0 (beside one that has
    weight) gets nothing, and the same input gives the same shares."""
    named = dict(zip(VENUES, weights, strict=False))
    shares = rules.split_fen(amount, named)
    assert list(shares) == list(named)
    assert sum(shares.values()) == amount
    total = sum(named.values()) or len(named)
    effective = named if any(named.values()) else dict.fromkeys(named, 1)
    for venue, fen in shares.items():
        assert fen >= 0
        exact_floor = amount * effective[venue] // total
        assert exact_floor <= fen <= exact_floor + 1
        if any(named.values()) and named[venue] == 0:
            assert fen == 0
    assert rules.split_fen(amount, named) == shares


@pytest.mark.parametrize(("amount", "weights", "expected"), [
    (22_800, {"DINO": 2, "TMH": 1, "YANC": 0, "CZMUS": 0}, {"DINO": 15_200, "TMH": 7_600, "YANC": 0, "CZMUS": 0}),
    (10, {"A": 1, "B": 1, "C": 1}, {"A": 4, "B": 3, "C": 3}),       # a tie: the venue listed first
    (10, {"A": 1, "B": 2, "C": 1}, {"A": 3, "B": 5, "C": 2}),       # 2.5, 5, 2.5: A is listed first
    (10_001, {"DINO": 7_000, "TMH": 3_000}, {"DINO": 7_001, "TMH": 3_000}),  # 7000.7 beats 3000.3
    (7, {"A": 0, "B": 0}, {"A": 4, "B": 3}),                        # no weight at all: equal
])
def test_the_remainder_rule(amount, weights, expected):
    assert rules.split_fen(amount, weights) == expected


@pytest.mark.parametrize(("rule", "ok"), [
    ({"basis": "entries"}, True),
    ({"basis": "fixed", "shares_bp": {"A": 6000, "B": 4000}}, True),
    ({"basis": "fixed", "shares_bp": {"A": 6000, "B": 3999}}, False),   # not 10 000
    ({"basis": "fixed", "shares_bp": {"A": 10_000}}, False),            # B missing
    ({"basis": "fixed", "shares_bp": {"A": 10_001, "B": -1}}, False),
    ({"basis": "fixed", "shares_bp": {"A": 5000.0, "B": 5000}}, False),  # whole basis points
    ({"basis": "entries", "shares_bp": {"A": 5000, "B": 5000}}, False),
    ({"basis": "visits"}, False),
    (None, False),
])
def test_split_rules_are_checked(rule, ok):
    assert (rules.split_problem(rule, ["A", "B"]) is None) is ok


def test_weights_by_entries_or_fixed():
    assert rules.split_weights(None, ["A", "B"], {"A": 3}) == {"A": 3, "B": 0}
    assert rules.split_weights({"basis": "entries"}, ["A", "B"], {}) == {"A": 1, "B": 1}
    assert rules.split_weights({"basis": "fixed", "shares_bp": {"A": 1, "B": 9999}}, ["A", "B"],
                               {"A": 50}) == {"A": 1, "B": 9999}
