"""The pure rebate rules: share of the fare, per-ride cap, per-holder monthly limit, where the
tap was, the holder's eligibility through `admits`, the budget spent in tap order, where the
rebate goes, and the same answer for the same inputs."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.discounts import rebate_rules as rr

METRO_HALF = rr.Campaign(
    code="METRO50", starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31),
    rule=rr.RebateRule(percent_bp=5000, max_per_ride=200, max_per_holder=2000),
    where=rr.TapConditions(modes=frozenset({"metro"})))


def tap(seq: int, fare: int = 300, *, holder: str = "p:1", day: date = date(2026, 3, 2), mode: str = "metro",
        rider: str = "adult", issued: date | None = date(2026, 1, 1), minute: int | None = None) -> rr.Tap:
    minute = seq if minute is None else minute
    return rr.Tap(batch_id=7, seq=seq, asn=f"A{holder}", holder=holder, tx_date=day,
                  occurred_at_key=f"{day:%Y%m%d}08{minute:02d}00", fare=fare, mode=mode, region="320402",
                  line="1", operator="CZMETRO", card_kind="normal", rider=rider, card_issued_on=issued)


def test_half_the_fare_capped_at_two_yuan_a_ride():
    decisions = rr.rebates_for([tap(1, 300), tap(2, 600), tap(3, 1)], [METRO_HALF], {}, {})
    assert [(d.seq, d.amount) for d in decisions] == [(1, 150), (2, 200)]  # 1 fen → 0: no decision
    assert all(d.outcome is rr.Outcome.GRANTED for d in decisions)


def test_twenty_yuan_per_holder_per_month_counting_earlier_batches():
    taps = [tap(i, 400) for i in range(1, 6)]  # 2 yuan each
    decisions = rr.rebates_for(taps, [METRO_HALF], {("METRO50", "p:1", "2026-03"): 1700}, {})
    assert [d.amount for d in decisions] == [200, 100, 0, 0, 0]
    assert [d.outcome for d in decisions][2:] == [rr.Outcome.HOLDER_LIMIT] * 3
    # another holder and another month start from zero
    other = rr.rebates_for([tap(1, 400, holder="p:2"), tap(2, 400, day=date(2026, 4, 1))],
                           [METRO_HALF], {("METRO50", "p:1", "2026-03"): 2000}, {})
    assert [d.amount for d in other] == [200]  # April is outside the campaign


def test_budget_spent_in_tap_order_then_nothing():
    taps = [tap(3, 400, minute=1), tap(1, 400, minute=2), tap(2, 400, minute=3)]
    decisions = rr.rebates_for(taps, [METRO_HALF], {}, {"METRO50": 250})
    assert [(d.seq, d.amount, d.outcome) for d in decisions] == [
        (3, 200, rr.Outcome.GRANTED), (1, 50, rr.Outcome.GRANTED), (2, 0, rr.Outcome.BUDGET_EXHAUSTED)]


@pytest.mark.parametrize(("where", "kept"), [
    (rr.TapConditions(modes=frozenset({"bus"})), []),
    (rr.TapConditions(tap_regions=frozenset({"3040"})), []),
    (rr.TapConditions(lines=frozenset({"2"})), []),
    (rr.TapConditions(operators=frozenset({"CZBUS"})), []),
    (rr.TapConditions(tap_regions=frozenset({"320402"}), lines=frozenset({"1"}), operators=frozenset({"CZMETRO"}),
                      modes=frozenset({"metro"})), [1, 2, 3]),
])
def test_where_the_tap_was(where, kept):
    campaign = rr.Campaign("C", date(2026, 3, 1), date(2026, 3, 31), rr.RebateRule(percent_bp=1000), where)
    taps = [tap(1), tap(2, rider="senior"), tap(3, issued=date(2026, 2, 15)), tap(4, issued=None, fare=0)]
    assert [d.seq for d in rr.rebates_for(taps, [campaign], {}, {})] == kept


def test_the_holders_eligibility_is_asked_of_admits():
    campaign = rr.Campaign("C", date(2026, 3, 1), date(2026, 3, 31), rr.RebateRule(percent_bp=1000))
    taps = [tap(1), tap(2, rider="senior")]
    seniors = rr.rebates_for(taps, [campaign], {}, {}, admits=lambda c, t: t.rider == "senior")
    assert [d.seq for d in seniors] == [2]


@pytest.mark.parametrize(("preferred", "wallet_ok", "account_ok", "goes"), [
    ("wallet", True, True, "wallet"), ("wallet", False, True, "account"), ("wallet", True, False, "wallet"),
    ("account", True, True, "account"), ("account", True, False, "wallet"), ("account", False, True, "account"),
    ("wallet", False, False, None), ("account", False, False, None),
])
def test_where_the_rebate_goes(preferred, wallet_ok, account_ok, goes):
    assert rr.destination(preferred, wallet_ok=wallet_ok, account_ok=account_ok) == goes


def test_rule_figures_are_checked():
    with pytest.raises(ValueError):
        rr.RebateRule(percent_bp=0)
    with pytest.raises(ValueError):
        rr.RebateRule(percent_bp=5000, max_per_ride=-1)


@settings(max_examples=30, deadline=None)
@given(fares=st.lists(st.integers(min_value=0, max_value=2000), min_size=1, max_size=30),
       holders=st.lists(st.integers(min_value=1, max_value=3), min_size=30, max_size=30),
       used=st.integers(min_value=0, max_value=2500), budget=st.integers(min_value=0, max_value=5000))
def test_never_over_any_limit_and_order_independent(fares, holders, used, budget):
    taps = [tap(i + 1, fare, holder=f"p:{holders[i]}") for i, fare in enumerate(fares)]
    decisions = rr.rebates_for(taps, [METRO_HALF], {("METRO50", "p:1", "2026-03"): used}, {"METRO50": budget})
    assert sum(d.amount for d in decisions) <= budget
    for d in decisions:
        assert 0 <= d.amount <= min(200, d.fare // 2)
    for holder in {d.holder for d in decisions}:
        had = used if holder == "p:1" else 0
        assert had + sum(d.amount for d in decisions if d.holder == holder) <= max(2000, had)
    assert rr.rebates_for(list(reversed(taps)), [METRO_HALF], {("METRO50", "p:1", "2026-03"): used},
                          {"METRO50": budget}) == decisions
