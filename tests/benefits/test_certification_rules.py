"""The pension confirmation's pure rules, one row per case (certification_rules.py)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.benefits import certification_rules as rules
from yikatong.benefits.certification_rules import Policy, Refusal
from yikatong.core.errors import InvalidInput

POLICY = Policy()
NOT_MONTH_OF_DEATH = Policy(pay_month_of_death=False)


@pytest.mark.parametrize("certified_on, until", [
    (date(2025, 3, 10), date(2026, 3, 10)),
    (date(2024, 2, 29), date(2025, 2, 28)),   # a leap day: the month's last day next year
    (date(2025, 12, 31), date(2026, 12, 31)),
])
def test_a_confirmation_holds_twelve_months(certified_on, until):
    assert rules.valid_until(certified_on, POLICY) == until


@pytest.mark.parametrize("until, died_on, period, expected", [
    (date(2026, 3, 10), None, "2026-03", None),                    # holds on the 1st
    (date(2026, 3, 10), None, "2026-04", Refusal.NOT_CERTIFIED),   # lapsed before the 1st
    (date(2026, 3, 31), None, "2026-03", None),
    (date(2026, 4, 1), None, "2026-04", None),                     # the last day is the 1st
    (None, None, "2026-04", Refusal.NOT_CERTIFIED),                # not a known pensioner
    (date(2027, 1, 1), date(2026, 3, 10), "2026-03", None),         # the month of death is paid
    (date(2027, 1, 1), date(2026, 3, 10), "2026-04", Refusal.DECEASED),
    (date(2025, 1, 1), date(2026, 3, 10), "2026-04", Refusal.DECEASED),  # death comes first
])
def test_which_months_are_payable(until, died_on, period, expected):
    assert rules.payable_reason(until=until, died_on=died_on, period=period, policy=POLICY) == expected


def test_without_the_month_of_death_payment_stops_at_the_month_before():
    assert rules.payable_reason(until=date(2027, 1, 1), died_on=date(2026, 3, 10), period="2026-03",
                                policy=NOT_MONTH_OF_DEATH) == Refusal.DECEASED
    assert rules.stop_from_day(date(2026, 3, 10), NOT_MONTH_OF_DEATH) == date(2026, 3, 1)
    assert rules.stop_from_day(date(2026, 3, 10), POLICY) == date(2026, 4, 1)
    assert rules.stop_from_day(date(2026, 12, 31), POLICY) == date(2027, 1, 1)


def test_a_lapse_suspends_from_the_month_after_and_a_confirmation_pays_back_through_its_month():
    assert rules.suspended_from(date(2026, 1, 10)) == "2026-02"
    assert rules.suspended_from(date(2025, 12, 31)) == "2026-01"
    assert rules.back_pay_periods("2026-02", date(2026, 4, 20)) == ["2026-02", "2026-03", "2026-04"]
    assert rules.back_pay_periods("2025-11", date(2026, 1, 2)) == ["2025-11", "2025-12", "2026-01"]


@pytest.mark.parametrize("until, reminded_for, today, due", [
    (date(2026, 3, 20), None, date(2026, 2, 18), True),    # 30 days ahead
    (date(2026, 3, 20), None, date(2026, 2, 17), False),   # 31 days ahead
    (date(2026, 3, 20), date(2026, 3, 20), date(2026, 3, 1), False),  # texted for this window
    (date(2026, 3, 20), date(2025, 3, 20), date(2026, 3, 1), True),   # texted for the last one
    (date(2026, 3, 20), None, date(2026, 3, 21), False),   # lapsed: the lapse notice instead
])
def test_the_reminder_window(until, reminded_for, today, due):
    assert rules.reminder_due(until, reminded_for, today, POLICY) is due


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "", "2026-00"])
def test_a_period_is_year_and_month(bad):
    with pytest.raises(InvalidInput):
        rules.check_period(bad)


@settings(max_examples=50, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_overpaid_months_are_exactly_those_after_the_month_of_death(died_on, day):
    period = rules.period_of(day)
    assert rules.overpaid(period, died_on, POLICY) is (period > rules.period_of(died_on))
    # and the payable answer agrees with it whatever the confirmation says
    reason = rules.payable_reason(until=date(2099, 1, 1), died_on=died_on, period=period, policy=POLICY)
    assert (reason == Refusal.DECEASED) is rules.overpaid(period, died_on, POLICY)
