"""Properties of the fare engine over random days of riding (Hypothesis).

Fares are never negative, never above the base fare, integer fen; metro fares never fall with
distance; clearing's re-rating agrees with what the validator charged.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transit.fare_helpers import (
    BEIJING,
    CHANGZHOU,
    NANJING,
    SUZHOU,
    WUXI,
    bus,
    card,
    config_with,
    entry,
    exit_,
    ride,
)
from yikatong.transit.fare_config import default_fare_config
from yikatong.transit.fare_rules import (
    CardKind,
    FareMemo,
    FareNotConfigured,
    RiderCategory,
    quote,
    rerate,
)

CONFIG = default_fare_config()
MEMO = FareMemo(CONFIG)
METRO = CONFIG.metros[CHANGZHOU]
STATIONS = [station.code for station in METRO.network.stations]
BUS_STOPS = [
    (CHANGZHOU, line.line, None) for line in CONFIG.bus_lines if line.city == CHANGZHOU
] + [
    (CHANGZHOU, "B1", "BRT-07"),
    (CHANGZHOU, "B2", "BRT-07"),
    (CHANGZHOU, "77", None),
    (SUZHOU, None, None),
    (WUXI, None, None),
    (BEIJING, "5", None),
]

cards = st.builds(
    card,
    issuer=st.sampled_from([CHANGZHOU, SUZHOU, WUXI, NANJING, BEIJING]),
    kind=st.sampled_from(list(CardKind)),
    rider=st.sampled_from(list(RiderCategory)),
)


@st.composite
def days_of_riding(draw):
    """A sequence of bus boardings and metro gate taps, minutes apart, in time order."""
    minute = 0.0
    taps = []
    for _ in range(draw(st.integers(1, 12))):
        minute += draw(st.sampled_from([0.5, 5, 20, 45, 59, 60, 61, 90, 400]))
        choice = draw(st.sampled_from(["bus", "entry", "exit"]))
        if choice == "bus":
            city, line, station = draw(st.sampled_from(BUS_STOPS))
            taps.append(bus(minute, line, city=city, station=station))
        elif choice == "entry":
            taps.append(entry(minute, draw(st.sampled_from(STATIONS))))
        else:
            taps.append(exit_(minute, draw(st.sampled_from(STATIONS))))
    return taps


@settings(max_examples=200, deadline=None)
@given(who=cards, taps=days_of_riding())
def test_fares_are_whole_fen_between_zero_and_the_base_fare(who, taps) -> None:
    decisions, _ = ride(who, taps)
    for decision in decisions:
        assert isinstance(decision.amount, int) and isinstance(decision.fare, int)
        assert 0 <= decision.fare <= decision.base_fare
        assert 0 <= decision.transfer_deduction <= decision.base_fare
        assert decision.amount >= 0
        assert decision.amount == (
            decision.fare
            + decision.penalty
            + (decision.pending_entry.deposit if decision.pending_entry else 0)
            - decision.deposit_credited
        )


@settings(max_examples=100, deadline=None)
@given(who=cards, taps=days_of_riding())
def test_explaining_never_changes_the_decision(who, taps) -> None:
    _, history = ride(who, taps)
    for position, tap in enumerate(taps):
        explained = quote(who, tap, history[:position], CONFIG)
        quiet = quote(who, tap, history[:position], CONFIG, explain=False)
        assert explained.trail and not quiet.trail
        assert replace(explained, trail=()) == quiet


@settings(max_examples=100, deadline=None)
@given(who=cards, taps=days_of_riding())
def test_rerating_agrees_with_the_validator(who, taps) -> None:
    _, history = ride(who, taps)
    for record in history:
        result = rerate(record, history, CONFIG, card=who)
        assert not result.mismatch
        assert result.expected == record.amount


@settings(max_examples=200, deadline=None)
@given(
    shorter=st.integers(min_value=0, max_value=120_000),
    extra=st.integers(min_value=0, max_value=120_000),
)
def test_metro_base_fare_never_falls_with_distance(shorter: int, extra: int) -> None:
    assert METRO.fare.base_fare(shorter) <= METRO.fare.base_fare(shorter + extra)


def test_metro_fare_never_falls_with_distance_across_the_network() -> None:
    """Every station pair, for every kind of rider: sorted by distance, fares only rise."""
    for who in (card(), card(NANJING, CardKind.CITY_CARD), card(rider=RiderCategory.STUDENT)):
        trips = []
        for start, end in itertools.product(STATIONS, repeat=2):
            decisions, _ = ride(who, (entry(0, start), exit_(30, end)))
            trips.append((decisions[-1].distance_m, decisions[-1].amount))
        trips.sort()
        amounts = [amount for _, amount in trips]
        assert amounts == sorted(amounts)
        assert {distance for distance, _ in trips} >= {0, 3_000, 10_000, 30_000}


# The packaged rules with the largest deposit they allow (the cheapest base fare, 2.00): above
# every discounted fare of the cheapest band, so the deposit must shrink for every discount.
DEPOSIT_CONFIG = config_with(lambda data: data["metros"][CHANGZHOU]["gates"].update(entry_debit=200))
DEPOSIT_MEMO = FareMemo(DEPOSIT_CONFIG)


@pytest.mark.parametrize(("config", "memo"), [(CONFIG, MEMO), (DEPOSIT_CONFIG, DEPOSIT_MEMO)],
                         ids=["packaged", "deposit"])
@settings(max_examples=150, deadline=None)
@given(who=cards, taps=days_of_riding(), data=st.data())
def test_the_bulk_memo_answers_as_quote_does(config, memo, who, taps, data) -> None:
    """FareMemo (clearing's bulk re-rating) gives quote's amount, chain start and open entry on
    random histories: one memo across examples, so its remembered answers are reused."""
    _, history = ride(who, taps, config)
    for position, tap in enumerate(taps):
        earlier = history[:position]
        # also histories the validator never wrote: shuffled, open entries closed or reopened
        if data.draw(st.booleans()):
            earlier = [replace(record, entry_open=data.draw(st.booleans())) for record in earlier]
            earlier = data.draw(st.permutations(earlier))
        try:
            expected = quote(who, tap, earlier, config, explain=False)
        except FareNotConfigured as error:
            with pytest.raises(FareNotConfigured) as raised:
                memo.quote(who, tap, earlier)
            assert raised.value.message_en == error.message_en
            continue
        got = memo.quote(who, tap, earlier)
        assert (got.amount, got.chain_start, got.entry_open, got.deposit) == (
            expected.amount, expected.chain_start, expected.pending_entry is not None,
            expected.pending_entry.deposit if expected.pending_entry else 0)


# --- the metro entry deposit ----------------------------------------------------------------

metro_discounts = st.sampled_from([(95, 100), (50, 100), (0, 1), (1, 3), (2, 3), (7, 9), (99, 100), (1, 1)])


@st.composite
def metro_trips(draw):
    """A card's metro trip, maybe after a bus (inside or outside the transfer window)."""
    before = draw(st.sampled_from([None, 0.5, 30, 60, 61, 200]))
    taps = [] if before is None else [bus(0, draw(st.sampled_from(["1", "JT1", "S101"])))]
    start = before or 0
    stay = draw(st.sampled_from([1, 20, 45, 90]))
    taps += [entry(start, draw(st.sampled_from(STATIONS))), exit_(start + stay, draw(st.sampled_from(STATIONS)))]
    return taps


@settings(max_examples=250, deadline=None)
@given(who=cards, taps=metro_trips(), deposit=st.integers(0, 200), rate=metro_discounts)
def test_deposit_and_its_credit_add_up_to_exactly_the_discounted_fare(who, taps, deposit, rate) -> None:
    """For every discount (the card's metro rate, transfers, rider categories) and any deposit
    the configuration allows, entry + exit debit exactly the fare the trip costs without a
    deposit: no fen lost or gained."""
    numerator, denominator = rate

    def rules(entry_debit: int):
        def change(data):
            data["metros"][CHANGZHOU]["gates"]["entry_debit"] = entry_debit
            for row in data["discounts"]:
                if row["id"] == "cz-metro-tunion":
                    row["rate"] = {"numerator": numerator, "denominator": denominator}
        return config_with(change)

    with_deposit, _ = ride(who, taps, rules(deposit))
    without, _ = ride(who, taps, rules(0))
    entered, exited = with_deposit[-2], with_deposit[-1]
    taken = entered.pending_entry.deposit
    assert entered.amount == taken and 0 <= taken <= deposit
    assert exited.deposit_credited == taken
    assert taken + exited.amount == exited.fare == without[-1].fare == without[-1].amount
    # Less than configured only when this card's cheapest trip from here (back out at the
    # entry station) costs less.
    entry_tap, exit_tap = taps[-2], taps[-1]
    back_out = replace(exit_tap, station=entry_tap.station)
    cheapest, _ = ride(who, [*taps[:-1], back_out], rules(0))
    assert taken == min(deposit, cheapest[-1].fare)
