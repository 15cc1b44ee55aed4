"""The fare engine against the worked examples of the seed (三.5) and domain-rules §5.2.

One row per rule. Expected amounts are written as the worked example's arithmetic in fen
(base − transfer) × rate, so a reader can check each against the rule it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.transit.fare_helpers import (
    BEIJING,
    CHANGZHOU,
    MORNING,
    NANJING,
    OUR_CARD,
    SUZHOU,
    WUXI,
    bus,
    card,
    config_with,
    entry,
    exit_,
    ride,
    row,
)
from yikatong.core.errors import InvalidInput
from yikatong.core.money import apply_rate
from yikatong.transit.fare_config import default_fare_config
from yikatong.transit.fare_rules import (
    CardContext,
    CardKind,
    FareFlag,
    FareNotConfigured,
    Mode,
    RiderCategory,
    Tap,
    TapKind,
    TransitRecordView,
    UnknownRegion,
    UnknownStation,
    quote,
    rerate,
)

CITY_CARD = card(kind=CardKind.CITY_CARD)
NANJING_CARD = card(NANJING, CardKind.CITY_CARD)
SUZHOU_SSC = card(SUZHOU)
STUDENT = card(rider=RiderCategory.STUDENT)
SENIOR = card(rider=RiderCategory.SENIOR_70)
DISABLED = card(rider=RiderCategory.DISABLED)
NANJING_STUDENT = card(NANJING, CardKind.CITY_CARD, RiderCategory.STUDENT)


@dataclass(frozen=True)
class Case:
    rule: str
    who: CardContext
    taps: tuple
    amount: int  # what the last tap debits, as the worked example's arithmetic
    flags: frozenset = frozenset()


CASES = [
    # Metro by distance with the card: 95% (domain-rules §5.2, H).
    Case("metro 3 km = 2 × 0.95", OUR_CARD, (entry(0, "0101"), exit_(12, "0102")), 200 * 95 // 100),
    Case(
        "metro 10 km = 3 × 0.95 (10 km is in the 5–10 band)",
        OUR_CARD,
        (entry(0, "0102"), exit_(20, "0104")),
        300 * 95 // 100,
    ),
    Case(
        "metro 30 km = (6 + 1) × 0.95 (one started 9 km past 29)",
        OUR_CARD,
        (entry(0, "0101"), exit_(45, "0107")),
        700 * 95 // 100,
    ),
    Case(
        "metro 20 km across the interchange = 5 × 0.95",
        OUR_CARD,
        (entry(0, "0102"), exit_(30, "0201")),
        500 * 95 // 100,
    ),
    Case(
        "metro entry and exit at one station = minimum fare",
        OUR_CARD,
        (entry(0, "0105"), exit_(5, "0105")),
        200 * 95 // 100,
    ),
    # The seed's own worked example: a 10-km metro ride after a bus within 60 min.
    Case(
        "metro 10 km after a bus within 60 min = (3 − 1) × 0.95",
        OUR_CARD,
        (bus(0), entry(20, "0102"), exit_(45, "0104")),
        (300 - 100) * 95 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    # Bus by region (seed 三.5).
    Case("Changzhou–Wujin bus = 2 × 0.6", OUR_CARD, (bus(0, "1"),), 200 * 60 // 100),
    Case(
        "Changzhou bus line not listed: city fare in the default region",
        OUR_CARD,
        (bus(0, "999"),),
        200 * 60 // 100,
    ),
    Case(
        "unlisted line whose validator says Jintan = 2 × 0.8",
        OUR_CARD,
        (bus(0, "999", region="jintan"),),
        200 * 80 // 100,
    ),
    Case("Jintan bus = 2 × 0.8", OUR_CARD, (bus(0, "JT1"),), 200 * 80 // 100),
    Case("Liyang bus = 2 × 0.8", OUR_CARD, (bus(0, "LY1"),), 200 * 80 // 100),
    Case("community line = 1 × 0.6", OUR_CARD, (bus(0, "S101"),), 100 * 60 // 100),
    # Transfers within 60 minutes of the first tap of the chain (domain-rules §5.2, M).
    Case(
        "bus → bus within 60 min = (2 − 1) × 0.6",
        OUR_CARD,
        (bus(0), bus(30, "B1")),
        (200 - 100) * 60 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "bus → bus at exactly 60 min still transfers",
        OUR_CARD,
        (bus(0), bus(60)),
        (200 - 100) * 60 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "bus → bus after 61 min = full discounted fare",
        OUR_CARD,
        (bus(0), bus(61)),
        200 * 60 // 100,
    ),
    Case(
        "window counts from the chain's first tap, not the last",
        OUR_CARD,
        (bus(0), bus(40), bus(70)),
        200 * 60 // 100,
    ),
    Case(
        "unlimited transfers inside the window",
        OUR_CARD,
        (bus(0), bus(10), bus(20), bus(30), bus(59)),
        (200 - 100) * 60 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "metro → bus within 60 min = (2 − 1) × 0.6",
        OUR_CARD,
        (entry(0, "0101"), exit_(10, "0102"), bus(30)),
        (200 - 100) * 60 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "bus → metro 30 km = (7 − 1) × 0.95",
        OUR_CARD,
        (bus(0), entry(10, "0101"), exit_(55, "0107")),
        (700 - 100) * 95 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "metro → metro is not a transfer pair",
        OUR_CARD,
        (entry(0, "0101"), exit_(10, "0102"), entry(15, "0102"), exit_(25, "0101")),
        200 * 95 // 100,
    ),
    Case(
        "metro entry more than 60 min after the bus: no transfer",
        OUR_CARD,
        (bus(0), entry(61, "0102"), exit_(80, "0104")),
        300 * 95 // 100,
    ),
    Case(
        "community line after a bus: (1 − 1) × 0.6, floor 0",
        OUR_CARD,
        (bus(0), bus(20, "S101")),
        0,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "BRT B1 → B2 inside the same station is free",
        OUR_CARD,
        (bus(0, "B1", station="BRT-07"), bus(4, "B2", station="BRT-07")),
        0,
        frozenset({FareFlag.TRANSFER, FareFlag.FREE_TRANSFER}),
    ),
    Case(
        "BRT B1 → B2 at another station is an ordinary transfer",
        OUR_CARD,
        (bus(0, "B1", station="BRT-07"), bus(20, "B2", station="BRT-12")),
        (200 - 100) * 60 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "BRT B1 → B2 with no station known is an ordinary transfer",
        OUR_CARD,
        (bus(0, "B1"), bus(20, "B2")),
        (200 - 100) * 60 // 100,
        frozenset({FareFlag.TRANSFER}),
    ),
    Case(
        "bus after a metro entry never closed: no transfer from an unpaid trip",
        OUR_CARD,
        (entry(0, "0101"), bus(30)),
        200 * 60 // 100,
    ),
    # Other cards in Changzhou.
    Case("plain Changzhou city card on the bus = 2 × 0.6", CITY_CARD, (bus(0),), 200 * 60 // 100),
    Case("Nanjing T-Union card on a Changzhou bus = full fare", NANJING_CARD, (bus(0),), 200),
    Case(
        "Nanjing T-Union card on the metro = 2 × 0.95 (all T-Union cards)",
        NANJING_CARD,
        (entry(0, "0101"), exit_(10, "0102")),
        200 * 95 // 100,
    ),
    Case(
        "Nanjing card: no transfer discount (local cards only)",
        NANJING_CARD,
        (bus(0), bus(20)),
        200,
    ),
    Case(
        "Suzhou social security card in Changzhou: same-city 2 × 0.6",
        SUZHOU_SSC,
        (bus(0),),
        200 * 60 // 100,
        frozenset({FareFlag.SAME_CITY}),
    ),
    # Our card elsewhere.
    Case(
        "our card on a Suzhou bus: same-city treatment 2 × 0.6",
        OUR_CARD,
        (bus(0, None, city=SUZHOU),),
        200 * 60 // 100,
        frozenset({FareFlag.SAME_CITY}),
    ),
    Case(
        "plain Changzhou city card in Suzhou: no same-city treatment",
        CITY_CARD,
        (bus(0, None, city=SUZHOU),),
        200,
    ),
    Case(
        "our card in Wuxi: local treatment, but no Wuxi discount is configured",
        OUR_CARD,
        (bus(0, None, city=WUXI),),
        200,
        frozenset({FareFlag.SAME_CITY}),
    ),
    Case(
        "our card in a far city: its local rules, full fare by default",
        OUR_CARD,
        (bus(0, "5", city=BEIJING),),
        200,
        frozenset({FareFlag.OTHER_CITY_DEFAULT}),
    ),
    Case(
        "our card in Nanjing (another cluster): full fare by default",
        OUR_CARD,
        (bus(0, "5", city=NANJING),),
        200,
        frozenset({FareFlag.OTHER_CITY_DEFAULT}),
    ),
    # Rider categories (Changzhou).
    Case(
        "Changzhou student on the metro = 2 × 0.5 (replaces 0.95)",
        STUDENT,
        (entry(0, "0101"), exit_(10, "0102")),
        200 * 50 // 100,
    ),
    Case(
        "Changzhou student on the bus: no student bus rate, 2 × 0.6",
        STUDENT,
        (bus(0),),
        200 * 60 // 100,
    ),
    Case(
        "Nanjing student in Changzhou: student rate is for local cards, 2 × 0.95",
        NANJING_STUDENT,
        (entry(0, "0101"), exit_(10, "0102")),
        200 * 95 // 100,
    ),
    Case("rider 70+ on the bus is free", SENIOR, (bus(0),), 0),
    Case("disabled rider on the metro is free", DISABLED, (entry(0, "0101"), exit_(30, "0107")), 0),
    # Metro gates.
    Case(
        "exit without entry = maximum fare 7 × 0.95",
        OUR_CARD,
        (exit_(0, "0104"),),
        700 * 95 // 100,
        frozenset({FareFlag.MAX_FARE_NO_ENTRY}),
    ),
    Case(
        "exit after an exit: no open entry, maximum fare",
        OUR_CARD,
        (entry(0, "0101"), exit_(10, "0102"), exit_(20, "0103")),
        700 * 95 // 100,
        frozenset({FareFlag.MAX_FARE_NO_ENTRY}),
    ),
    Case(
        "entry without exit: fined the maximum fare at the next entry",
        OUR_CARD,
        (entry(0, "0101"), entry(300, "0104")),
        700,
        frozenset({FareFlag.UNFINISHED_ENTRY_PENALTY, FareFlag.PENDING_ENTRY}),
    ),
    Case(
        "entry without exit, bus in between: still fined at the next entry",
        OUR_CARD,
        (entry(0, "0101"), bus(200), entry(300, "0104")),
        700,
        frozenset({FareFlag.UNFINISHED_ENTRY_PENALTY, FareFlag.PENDING_ENTRY}),
    ),
    Case(
        "after the fine the new entry exits normally",
        OUR_CARD,
        (entry(0, "0101"), entry(300, "0104"), exit_(320, "0105")),
        200 * 95 // 100,
    ),
    Case(
        "metro entry: nothing is debited, the fare waits for the exit",
        OUR_CARD,
        (entry(0, "0101"),),
        0,
        frozenset({FareFlag.PENDING_ENTRY}),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_worked_example(case: Case) -> None:
    decisions, _ = ride(case.who, case.taps)
    last = decisions[-1]
    assert last.amount == case.amount
    assert case.flags <= last.flags
    assert last.trail, "every decision explains itself"


def test_decision_shows_every_step_of_the_seed_example() -> None:
    decisions, _ = ride(OUR_CARD, (bus(0), entry(20, "0102"), exit_(45, "0104")))
    exit_decision = decisions[-1]
    assert (exit_decision.base_fare, exit_decision.transfer_deduction) == (300, 100)
    assert (exit_decision.discount.numerator, exit_decision.discount.denominator) == (95, 100)
    assert exit_decision.distance_m == 10_000
    assert exit_decision.chain_start == MORNING  # the bus started the chain
    assert [step.rule_id for step in exit_decision.trail] == [
        "metro.distance_fare",
        "transfer.deduction",
        "discount.cz-metro-tunion",
        "rounding.half_up",
    ]
    assert "1.90" in exit_decision.trail[-1].zh and "1.90" in exit_decision.trail[-1].en
    assert exit_decision.config_version == default_fare_config().version


def test_entry_returns_a_pending_entry_carrying_the_chain() -> None:
    decisions, history = ride(OUR_CARD, (bus(0), entry(20, "0102")))
    pending = decisions[-1].pending_entry
    assert pending is not None
    assert (pending.station, pending.chain_start, pending.deposit) == ("0102", MORNING, 0)
    assert history[-1].entry_open and history[-1].chain_start == MORNING


def test_penalty_is_separate_from_the_fare() -> None:
    decisions, _ = ride(OUR_CARD, (entry(0, "0101"), entry(300, "0104")))
    fined = decisions[-1]
    assert (fined.penalty, fined.fare, fined.amount) == (700, 0, 700)


def test_rounding_is_half_up_to_the_fen() -> None:
    # A 1.50 CNY line at 95%: 142.5 fen → 143 (domain-rules §5.2: round to 0.01 CNY half up).
    def change(data):
        row(data["bus_lines"], line="1").update(fare=150)
        row(data["discounts"], id="cz-bus-changwu").update(
            rate={"numerator": 95, "denominator": 100}
        )

    decisions, _ = ride(OUR_CARD, (bus(0, "1"),), config_with(change))
    assert decisions[-1].amount == 143


def test_transfer_deduction_never_goes_below_zero() -> None:
    # A 0.50 CNY line after a bus: 50 − 100 floors at 0; it does not credit the other 50 fen.
    config = config_with(lambda data: row(data["bus_lines"], line="S101").update(fare=50))
    decisions, _ = ride(OUR_CARD, (bus(0), bus(10, "S101")), config)
    assert (decisions[-1].transfer_deduction, decisions[-1].amount) == (50, 0)


def test_entry_deposit_is_credited_at_exit() -> None:
    config = config_with(lambda data: data["metros"]["3040"]["gates"].update(entry_debit=150))
    decisions, _ = ride(OUR_CARD, (entry(0, "0101"), exit_(20, "0104")), config)
    assert decisions[0].amount == 150
    exit_decision = decisions[-1]
    assert exit_decision.fare == apply_rate(400, 95, 100)
    assert exit_decision.deposit_credited == 150
    assert exit_decision.amount + decisions[0].amount == exit_decision.fare


MAX_STAY = default_fare_config().metros[CHANGZHOU].max_stay.minutes  # 240 (an assumption)


def test_an_exit_within_the_maximum_stay_closes_its_entry() -> None:
    decisions, history = ride(OUR_CARD, (entry(0, "0101"), exit_(MAX_STAY, "0104")))
    closed = decisions[-1]
    assert (closed.distance_m, closed.fare, closed.penalty, closed.amount) == (13_000, 380, 0, 380)
    assert FareFlag.STAY_EXCEEDED not in closed.flags
    assert not rerate(history[-1], history, default_fare_config(), card=OUR_CARD).mismatch


def test_an_exit_after_the_maximum_stay_leaves_its_entry_unfinished() -> None:
    """One second past the limit the entry counts as one without an exit (fined, undiscounted)
    and the exit as one without an entry (the maximum fare, card discount applied)."""
    config = default_fare_config()
    metro = config.metros[CHANGZHOU]
    decisions, history = ride(OUR_CARD, (entry(0, "0101"), exit_(MAX_STAY + 1 / 60, "0104")))
    late = decisions[-1]
    assert {FareFlag.STAY_EXCEEDED, FareFlag.UNFINISHED_ENTRY_PENALTY, FareFlag.MAX_FARE_NO_ENTRY} <= late.flags
    assert late.distance_m is None and late.base_fare == metro.max_fare == 700
    assert (late.penalty, late.fare) == (700, apply_rate(700, 95, 100))
    assert late.amount == 700 + 665
    assert not history[-1].entry_open and late.chain_start == history[-1].tap.when
    assert not rerate(history[-1], history, config, card=OUR_CARD).mismatch
    # The late exit closed the card's trip: the next entry is not fined again.
    after, _ = ride(OUR_CARD, (entry(0, "0101"), exit_(MAX_STAY + 1, "0104"), entry(MAX_STAY + 30, "0104")))
    assert after[-1].penalty == 0 and after[-1].amount == 0


def test_a_late_exit_credits_the_entry_deposit_against_what_it_charges() -> None:
    config = config_with(lambda data: data["metros"][CHANGZHOU]["gates"].update(entry_debit=150))
    decisions, _ = ride(OUR_CARD, (entry(0, "0101"), exit_(MAX_STAY + 1, "0104")), config)
    assert decisions[0].amount == 150
    assert (decisions[-1].deposit_credited, decisions[-1].amount) == (150, 700 + 665 - 150)


def test_without_a_maximum_stay_an_entry_is_closed_however_late() -> None:
    config = config_with(lambda data: data["metros"][CHANGZHOU].pop("max_stay"))
    decisions, _ = ride(OUR_CARD, (entry(0, "0101"), exit_(3 * 24 * 60, "0104")), config)
    assert (decisions[-1].distance_m, decisions[-1].amount) == (13_000, 380)


def test_a_city_changes_fares_without_code() -> None:
    config = config_with(lambda data: data["cities"]["3040"].update(bus_fare=300))
    decisions, _ = ride(OUR_CARD, (bus(0, "777"),), config)
    assert decisions[-1].amount == 300 * 60 // 100


def test_the_window_is_the_same_instant_in_any_timezone() -> None:
    first = bus(0)
    later_utc = Tap(
        (MORNING + timedelta(minutes=59)).astimezone(UTC), CHANGZHOU, Mode.BUS, TapKind.BOARD, "1"
    )
    decisions, _ = ride(OUR_CARD, (first, later_utc))
    assert FareFlag.TRANSFER in decisions[-1].flags


def test_history_order_does_not_matter() -> None:
    _, history = ride(OUR_CARD, (bus(0), entry(20, "0102")))
    tap = exit_(45, "0104")
    config = default_fare_config()
    assert quote(OUR_CARD, tap, history, config) == quote(OUR_CARD, tap, history[::-1], config)


def test_an_entry_in_another_city_is_not_open_here() -> None:
    # No Suzhou metro is configured, so the Suzhou entry record is built by hand.
    suzhou_entry = TransitRecordView(
        tap=Tap(MORNING, SUZHOU, Mode.METRO, TapKind.ENTRY, station="SZ01"),
        amount=0,
        chain_start=MORNING,
        entry_open=True,
    )
    decision = quote(OUR_CARD, exit_(20, "0102"), [suzhou_entry], default_fare_config())
    assert FareFlag.MAX_FARE_NO_ENTRY in decision.flags


# -- rerate: clearing's second opinion -----------------------------------------------------------


def test_rerate_agrees_with_what_the_validator_charged() -> None:
    _, history = ride(OUR_CARD, (bus(0), entry(20, "0102"), exit_(45, "0104"), bus(50, "S101")))
    config = default_fare_config()
    results = [rerate(record, history, config, card=OUR_CARD) for record in history]
    assert [result.expected for result in results] == [record.amount for record in history]
    assert not any(result.mismatch for result in results)


def test_rerate_flags_a_mismatch_and_leaves_the_record_alone() -> None:
    _, history = ride(OUR_CARD, (bus(0), bus(20)))
    overcharged = TransitRecordView(
        tap=history[1].tap, amount=120, chain_start=history[1].chain_start
    )
    result = rerate(overcharged, [history[0], overcharged], default_fare_config(), card=OUR_CARD)
    assert result.mismatch
    assert (result.charged, result.expected) == (120, 60)
    assert "transfer.deduction" in [step.rule_id for step in result.decision.trail]
    assert overcharged.amount == 120


def test_rerate_of_an_unrateable_record_says_why() -> None:
    suzhou_exit = Tap(MORNING, SUZHOU, Mode.METRO, TapKind.EXIT, station="SZ01")
    record = TransitRecordView(tap=suzhou_exit, amount=300, chain_start=MORNING)
    result = rerate(record, [], default_fare_config(), card=OUR_CARD)
    assert result.expected is None and not result.mismatch
    assert "3050" in result.not_rated_en and "3050" in result.not_rated_zh


# -- inputs the engine refuses -------------------------------------------------------------------


def test_metro_in_a_city_without_metro_configuration() -> None:
    with pytest.raises(FareNotConfigured) as raised:
        quote(OUR_CARD, entry(0, "SZ01", city=SUZHOU), [], default_fare_config())
    assert raised.value.code == "transit_fare_not_configured"


def test_unknown_bus_region() -> None:
    with pytest.raises(UnknownRegion) as raised:
        quote(OUR_CARD, bus(0, "999", region="mars"), [], default_fare_config())
    assert "mars" in raised.value.message_zh and "mars" in raised.value.message_en


def test_entry_at_a_station_no_longer_in_the_network() -> None:
    old_entry = TransitRecordView(
        tap=entry(0, "0999"), amount=0, chain_start=MORNING, entry_open=True
    )
    with pytest.raises(UnknownStation):
        quote(OUR_CARD, exit_(20, "0102"), [old_entry], default_fare_config())


def test_unknown_station() -> None:
    with pytest.raises(UnknownStation) as raised:
        quote(OUR_CARD, entry(0, "9999"), [], default_fare_config())
    assert "9999" in raised.value.message_zh and "9999" in raised.value.message_en


@pytest.mark.parametrize(
    "build",
    [
        lambda: Tap(datetime(2026, 3, 2, 8, 0), CHANGZHOU, Mode.BUS, TapKind.BOARD, "1"),
        lambda: Tap(MORNING, CHANGZHOU, Mode.BUS, TapKind.ENTRY, "1"),
        lambda: Tap(MORNING, CHANGZHOU, Mode.METRO, TapKind.BOARD, station="0101"),
        lambda: Tap(MORNING, CHANGZHOU, Mode.METRO, TapKind.ENTRY),
        lambda: Tap(MORNING, "304", Mode.BUS, TapKind.BOARD, "1"),
        lambda: CardContext("30A0", CardKind.CITY_CARD),
    ],
    ids=[
        "naive time",
        "bus entry",
        "metro board",
        "metro without station",
        "short city",
        "bad issuer",
    ],
)
def test_malformed_input_is_refused(build) -> None:
    with pytest.raises(InvalidInput):
        build()


# -- card kinds from file 0015 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer_id", "city"),
    [
        # The public FCI example of card-protocol.md §4.1 (a Beijing card).
        (bytes.fromhex("01011000FFFFFFFF"), BEIJING),
        (bytes.fromhex("01013040FFFFFFFF"), CHANGZHOU),
        (bytes.fromhex("01013050FFFFFFFF"), SUZHOU),
        (bytes.fromhex("01013020FFFFFFFF"), WUXI),
        (bytes.fromhex("01013010FFFFFFFF"), NANJING),
    ],
)
def test_issuer_city_from_file_0015(issuer_id: bytes, city: str) -> None:
    context = CardContext.from_issuer_id(issuer_id, kind=CardKind.SOCIAL_SECURITY)
    assert context.issuer_city == city
    assert default_fare_config().issuer_name(city).en


@pytest.mark.parametrize("issuer_id", [bytes.fromhex("0101AB40FFFFFFFF"), b"\x01\x01\x30\x40"])
def test_issuer_id_must_be_eight_bcd_bytes(issuer_id: bytes) -> None:
    with pytest.raises(InvalidInput):
        CardContext.from_issuer_id(issuer_id, kind=CardKind.CITY_CARD)
