"""Pure clearing rules: duplicates, settlement groups and accounts, re-rating by replay,
card-side reconciliation, exception texts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.clearing import rules
from yikatong.clearing.fileformat import BatchRecord, frame_of
from yikatong.clearing.rules import CardMovement, CardTap, Reason
from yikatong.core.clock import CST
from yikatong.core.money import apply_rate
from yikatong.transit.fare_config import default_fare_config
from yikatong.transit.fare_rules import CardKind, Mode, Tap, TapKind, TransitRecordView, rerate
from yikatong.transit.rules import WALLET_FLOAT

OURS, SUZHOU = "01013040FFFFFFFF", "01013050FFFFFFFF"
MORNING = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
FARES = default_fare_config()


def record(seq: int, *, asn: str = "1" * 20, counter: int = 0, amount: int = 120, issuer: str = OURS,
           tx_type: int = 0x09, operator: str = "CZBUS", city: str = "3040") -> BatchRecord:
    return BatchRecord(seq, asn, issuer, "304001000001", seq, tx_type, amount, 1000, counter, "20260302080000",
                       "00000000", 1, 4, city, operator, "bus", "board", "1")


def test_repeats_of_a_card_counter_are_found_whatever_else_differs():
    records = [record(1, counter=1), record(2, counter=2), record(3, counter=1, amount=999),
               record(4, counter=1, tx_type=0x02, amount=500), record(5, asn="2" * 20, counter=1)]
    first, repeats = rules.split_repeats(frame_of(records), range(len(records)))
    assert repeats == [2]  # a load's online counter 1 is another counter than a purchase's offline 1
    assert first == [0, 1, 3, 4]
    assert rules.split_repeats(frame_of(records), [4, 2, 0]) == ([4, 2], [0])  # the first in the order given
    assert rules.split_repeats(frame_of(records), []) == ([], [])


hex_digits = st.text("0123456789ABCDEF", min_size=1, max_size=1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x02, 0x06, 0x09]), st.integers(0, 2**32 - 1),
                          st.integers(-(2**31), 2**31 - 1), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
                          st.sampled_from([OURS, SUZHOU]), st.sampled_from([1, 2]),
                          st.lists(hex_digits, min_size=12, max_size=12).map("".join)), max_size=12))
def test_tac_groups_give_each_record_the_bytes_of_its_tac_layout(fields):
    """The column-at-a-time TAC data equals the one-record-at-a-time layouts (purchase_tac_hex,
    load_tac_hex, which tests/clearing/test_fileformat.py checks against the card's)."""
    records = [BatchRecord(seq, f"{seq:020d}", issuer, terminal, serial, tx_type, amount, balance, counter,
                           f"2026030{seq % 9 + 1}08{seq % 60:02d}00", f"{seq:08X}", version, 4, "3040", "CZBUS")
               for seq, (tx_type, amount, balance, counter, serial, issuer, version, terminal)
               in enumerate(fields, start=1)]
    chosen = [i for i in range(len(records)) if i % 3 != 1]  # not every row
    groups = rules.tac_groups(frame_of(records), chosen)
    assert sorted(i for g in groups for i in g.indexes) == chosen
    for group in groups:
        for row, index in enumerate(group.indexes):
            r = records[index]
            assert (group.key_version, group.issuer_id, group.alg_id) == (r.key_version, r.issuer_id, r.alg_id)
            layout = rules.load_tac_hex if r.is_load else rules.purchase_tac_hex
            assert group.tac_inputs[row].tobytes() == bytes.fromhex(layout(r))
            assert (group.asns[row].tobytes(), group.tacs[row].tobytes()) == (bytes.fromhex(r.asn), bytes.fromhex(r.tac))


def test_settlement_groups_sum_per_operator_and_issuer_and_post_to_the_right_accounts():
    records = [record(1, amount=120), record(2, amount=200), record(3, amount=95, issuer=SUZHOU),
               record(4, amount=190, operator="CZMETRO"), record(5, amount=5000, tx_type=0x02),
               record(6, amount=160, city="3050", operator="SZBUS")]
    groups = {(g.city, g.operator, g.issuer_id): g for g in rules.settlement_groups(frame_of(records), range(6))}
    assert groups[("3040", "CZBUS", OURS)].indexes == (0, 1)
    assert [g.count for g in rules.settlement_groups(frame_of(records), [5, 2])] == [1, 1]  # only the rows given
    assert rules.settlement_groups(frame_of(records), []) == []
    assert {key: (g.count, g.amount) for key, g in groups.items()} == {
        ("3040", "CZBUS", OURS): (2, 320), ("3040", "CZBUS", SUZHOU): (1, 95),
        ("3040", "CZMETRO", OURS): (1, 190), ("3050", "SZBUS", OURS): (1, 160)}  # the load is not a fare
    assert groups[("3040", "CZBUS", OURS)].accounts() == (WALLET_FLOAT, "clearing:payable:3040:CZBUS")
    assert groups[("3040", "CZBUS", SUZHOU)].accounts() == ("clearing:receivable:01013050FFFFFFFF",
                                                           "clearing:payable:3040:CZBUS")
    assert groups[("3050", "SZBUS", OURS)].accounts() == (WALLET_FLOAT, "clearing:payable:3050:SZBUS")
    assert rules.account_kind("clearing:payable:3040:CZBUS") == "liability"
    assert rules.account_kind("clearing:receivable:01013050FFFFFFFF") == "asset"


def test_our_cards_are_those_issued_in_changzhou():
    assert rules.is_own_card(OURS) and not rules.is_own_card(SUZHOU)


def _tap(minutes: float, mode: Mode, kind: TapKind, *, line=None, station=None) -> Tap:
    return Tap(when=MORNING + timedelta(minutes=minutes), city="3040", mode=mode, kind=kind, line=line, station=station)


def test_replay_rerates_the_worked_example_metro_after_a_bus():
    """domain-rules §5.2: a 10 km metro ride after a bus within 60 minutes = (3 − 1) × 0.95."""
    card = rules.card_context(OURS, "social_security", "adult")
    bus_fare = apply_rate(200, 60, 100)
    taps = [CardTap("bus", _tap(0, Mode.BUS, TapKind.BOARD, line="1"), bus_fare),
            CardTap("in", _tap(20, Mode.METRO, TapKind.ENTRY, station="0101"), 0),
            CardTap("out", _tap(45, Mode.METRO, TapKind.EXIT, station="0103"), 190)]  # 0101→0103 is 7 km
    checks = rules.replay_card(taps, card, FARES)
    assert [(c.ref, c.expected, c.mismatch) for c in checks] == [
        ("bus", bus_fare, False), ("in", 0, False), ("out", apply_rate(300 - 100, 95, 100), False)]


def test_replay_flags_what_the_card_paid_wrongly_and_explains_it():
    card = rules.card_context(OURS, "social_security", "adult")
    taps = [CardTap("bus", _tap(0, Mode.BUS, TapKind.BOARD, line="1"), 200)]  # full fare: no discount given
    (check,) = rules.replay_card(taps, card, FARES)
    assert check.mismatch and (check.charged, check.expected) == (200, 120)
    assert "60%" in check.en and "6 折" in check.zh


def test_replay_reports_from_a_position_and_uses_the_earlier_taps_as_history():
    card = rules.card_context(OURS, "social_security", "adult")
    taps = [CardTap("first", _tap(0, Mode.BUS, TapKind.BOARD, line="1"), 120),
            CardTap("transfer", _tap(30, Mode.BUS, TapKind.BOARD, line="B1"), apply_rate(200 - 100, 60, 100))]
    checks = rules.replay_card(taps, card, FARES, report_from=1)
    assert [(c.ref, c.mismatch) for c in checks] == [("transfer", False)]


def test_a_tap_in_a_city_without_fares_is_not_rated():
    card = rules.card_context(OURS, "social_security", "adult")
    tap = Tap(when=MORNING, city="1000", mode=Mode.METRO, kind=TapKind.EXIT, station="X1")
    (check,) = rules.replay_card([CardTap("beijing", tap, 400)], card, FARES)
    assert check.expected is None and not check.mismatch


def test_an_unreadable_card_kind_is_taken_as_the_validator_takes_it():
    assert rules.card_context(SUZHOU, "", "").kind is CardKind.CITY_CARD
    assert rules.card_context(SUZHOU, "social_security", "student").issuer_city == "3050"


def test_tap_of_skips_records_that_are_not_taps():
    load = record(1)._replace(mode="", tap="")
    assert rules.tap_of(load, MORNING) is None
    assert rules.tap_of(record(1), MORNING).line == "1"
    assert rules.tap_of(record(1)._replace(city="30X0"), MORNING) is None


@pytest.mark.parametrize(("movements", "difference"), [
    ([CardMovement("a", True, 5000, 5000), CardMovement("a", False, 120, 4880), CardMovement("a", False, 190, 4690)], 0),
    ([CardMovement("a", False, 120, 4880), CardMovement("a", False, 190, 4500)], 190),  # a 190 debit went missing
    ([CardMovement("a", False, 120, 4880), CardMovement("a", True, 1000, 5880)], 0),
])
def test_a_card_day_explains_every_fen_or_shows_the_difference(movements, difference):
    day = rules.card_day(movements)
    assert day.opening == movements[0].balance_after + (-1 if movements[0].is_load else 1) * movements[0].amount
    assert day.closing == movements[-1].balance_after
    assert day.difference == difference


@pytest.mark.parametrize("reason", list(Reason))
def test_every_exception_reason_has_both_languages(reason):
    details = {"counter_kind": "offline", "counter": 7, "charged": 200, "expected": 120, "verdict": "FORGED",
               "why_zh": "密钥未找到", "why_en": "key not found", "unfunded": 240}
    zh, en = rules.describe(reason, **details)
    assert zh and en and zh != en
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii()


def _replay_by_rerate(taps, card):
    """The re-rating as rerate() does it for one record at a time: the oracle of the bulk path."""
    history, checks = [], []
    for item in taps:
        result = rerate(TransitRecordView(tap=item.tap, amount=item.amount, chain_start=item.tap.when),
                        history[-rules.HISTORY_DEPTH:], FARES, card=card)
        decision = result.decision
        history.append(decision.record(item.tap) if decision is not None else TransitRecordView(
            tap=item.tap, amount=item.amount, chain_start=item.tap.when, entry_open=item.tap.kind is TapKind.ENTRY))
        checks.append((item.ref, item.amount, result.expected))
    return checks


_PLACES = ([(Mode.BUS, TapKind.BOARD, line, None) for line in ("1", "2", "B1", "B2", "77")]
           + [(Mode.METRO, kind, None, station) for kind in (TapKind.ENTRY, TapKind.EXIT)
              for station in ("0101", "0103", "0110", "0201", "X9")])


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["social_security", "city_card"]), rider=st.sampled_from(["adult", "student", "senior_70"]),
       issuer=st.sampled_from([OURS, SUZHOU]),
       steps=st.lists(st.tuples(st.sampled_from([0, 0.5, 5, 30, 59, 60, 61, 200]), st.sampled_from(_PLACES),
                                st.integers(0, 400), st.sampled_from(["3040", "1000"])), min_size=1, max_size=25),
       backwards=st.booleans())
def test_the_bulk_replay_agrees_with_rerating_one_record_at_a_time(kind, rider, issuer, steps, backwards):
    """Random days (some taps at the same second, some in a city without fares, amounts that
    may be wrong, some out of order): replay_card, through the fare memo, gives rerate's
    expected fare for each."""
    card = rules.card_context(issuer, kind, rider)
    minute, taps = 0.0, []
    for number, (gap, (mode, tap_kind, line, station), amount, city) in enumerate(steps):
        minute += gap
        tap = Tap(when=MORNING + timedelta(minutes=minute), city=city, mode=mode, kind=tap_kind, line=line,
                  station=station)
        taps.append(CardTap(number, tap, amount))
    if backwards:
        taps.reverse()
    got = [(c.ref, c.charged, c.expected) for c in rules.replay_card(taps, card, FARES)]
    assert got == _replay_by_rerate(taps, card)
