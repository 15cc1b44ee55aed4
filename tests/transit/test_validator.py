"""Bus validators and metro gates on emulated cards: offline fares from the card's own records,
capped purchases writing 001E/001A, refusals with reasons, torn debits, the upload queue."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from yikatong.chip import terminal
from yikatong.chip.apdu import ResponseApdu, command
from yikatong.chip.emulator import Card, TearPoint
from yikatong.chip.host import LoadHost, secure_command, verify_tac
from yikatong.chip.image import CardPersonalisation, card_factor_values, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.core.clock import CST
from yikatong.core.money import apply_rate
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.pboc import TX_CAPPED_PURCHASE
from yikatong.transit import records
from yikatong.transit.fare_rules import FareFlag, TapKind
from yikatong.transit.validator import (
    DenyList,
    RefusalReason,
    Validator,
    bus,
    metro_entry,
    metro_exit,
    station_desk_settle,
)

from .conftest import fares_with

MORNING = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
CZ = "3040"
DEPOSIT = fares_with(entry_debit=100)  # an entry deposit: every metro tap moves money
KEYS = InMemoryKeyStore(seed=b"validator-tests")
BASE = CardPersonalisation(
    card_no="V00000001", card_id_code="320400D156000005C320400100000001", ssn="320402199001011234",
    name="测试丙", gender="1", nation="01", birthplace="320402", birth_date=date(1990, 1, 1),
    issue_date=date(2026, 3, 1), expiry_date=date(2036, 3, 1), region_code="320400",
    pan="6214830600000001", pan_sequence=1, pan_expiry=date(2036, 3, 31), asn="03104000000000000001",
)
_terminals = iter(range(1, 10_000))


def at(minutes: float) -> datetime:
    return MORNING + timedelta(minutes=minutes)


def card_with(balance: int = 5000, *, city: str = CZ, **fields) -> EmulatorReader:
    data = replace(BASE, issuer_id=f"0101{city}FFFFFFFF", **fields)
    reader = EmulatorReader(Card(personalise(data, KEYS)))
    reader.connect()
    if balance:
        terminal.load(reader, LoadHost(KEYS), balance, bytes.fromhex("304010000001"), at(-60))
    return reader


def validator(place, fares=DEPOSIT, deny=None) -> Validator:
    psam = Psam(KEYS, terminal_id=bytes.fromhex(f"3040500{next(_terminals):05d}"))
    return Validator(psam, place, fares=fares, deny_list=deny)


def bus_line(line: str = "1", operator: str = "CZBUS") -> Validator:
    return validator(bus(CZ, line, operator))


def gate_in(station: str, fares=DEPOSIT) -> Validator:
    return validator(metro_entry(CZ, station, "CZMETRO"), fares)


def gate_out(station: str, fares=DEPOSIT) -> Validator:
    return validator(metro_exit(CZ, station, "CZMETRO"), fares)


def balance(reader) -> int:
    terminal.select_purse(reader)
    return terminal.get_balance(reader)


# --- buses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "city", "fare"), [
    ("1", CZ, 120),        # Changzhou–Wujin bus 60%
    ("JT1", CZ, 160),      # Jintan bus 80%
    ("LY1", CZ, 160),      # Liyang bus 80%
    ("S101", CZ, 60),      # a 1-yuan community line at 60%
    ("1", "3050", 120),    # a Suzhou card in Changzhou: 苏锡常 same-city treatment
    ("1", "1000", 200),    # a Beijing T-Union card: full fare
])
def test_bus_boarding_charges_the_configured_fare_and_writes_the_transit_record(line, city, fare):
    reader = card_with(5000, city=city)
    validator_ = bus_line(line)
    result = validator_.tap(reader, at(0))
    assert result.accepted and result.amount == fare and result.balance_after == 5000 - fare
    record = result.record
    assert record.tx_type == TX_CAPPED_PURCHASE and record.terminal_id == validator_.terminal_id
    assert verify_tac(record, KEYS)
    view = terminal.read_purse(reader)
    [entry] = view.transit_log
    assert (entry.kind, entry.subtype, entry.amount, entry.balance_after, entry.city) == (
        records.TYPE_SINGLE, records.MODE_BUS, fare, 5000 - fare, CZ)
    assert records.tap_of(entry).line == line
    state = records.find_trip_state(view.complex_records)
    assert state.city == CZ and state.chain_start == at(0) and not state.entry_open
    assert validator_.pending_records() == [record]
    assert validator_.drain() == [record] and validator_.pending_records() == []


def test_bus_to_bus_within_60_minutes_takes_one_yuan_off_first():
    reader = card_with()
    assert bus_line("1").tap(reader, at(0)).amount == 120
    second = bus_line("2").tap(reader, at(59))
    assert second.amount == 60  # (2 − 1) × 0.6
    assert FareFlag.TRANSFER in second.decision.flags
    assert bus_line("3").tap(reader, at(61)).amount == 120  # the chain started at 08:00


# --- metro ----------------------------------------------------------------------------------


def test_metro_entry_and_exit_charge_the_distance_fare():
    reader = card_with()
    entry = gate_in("0101").tap(reader, at(0))
    assert entry.accepted and entry.amount == 100 and entry.decision.pending_entry is not None
    state = records.find_trip_state(terminal.read_purse(reader).complex_records)
    assert state.entry_open and state.deposit == 100
    exit_ = gate_out("0104").tap(reader, at(30))  # 13 km: 4.00 × 0.95 = 3.80, less the deposit
    assert exit_.accepted and exit_.amount == 280 and exit_.decision.fare == 380
    assert balance(reader) == 5000 - 380
    assert not records.find_trip_state(terminal.read_purse(reader).complex_records).entry_open


def test_metro_after_a_bus_within_60_minutes_is_the_worked_example():
    """domain-rules §5.2: a metro ride after a bus within 60 min = (3 − 1) × 0.95 = 1.90 CNY."""
    reader = card_with()
    bus_line("1").tap(reader, at(0))
    # The deposit is at most the least a transfer can cost at the exit: (2 − 1) × 0.95 = 0.95.
    assert gate_in("0101").tap(reader, at(20)).amount == 95
    exit_ = gate_out("0103").tap(reader, at(45))  # 7 km: base 3.00
    assert (exit_.decision.base_fare, exit_.decision.transfer_deduction, exit_.decision.fare) == (300, 100, 190)
    assert exit_.amount == 95  # 1.90 less the 0.95 deposit taken at entry
    assert balance(reader) == 5000 - 120 - 190
    late = card_with()
    bus_line("1").tap(late, at(0))
    gate_in("0101").tap(late, at(61))
    assert gate_out("0103").tap(late, at(80)).decision.fare == 285  # no transfer: 3.00 × 0.95


def test_an_exit_without_entry_pays_the_maximum_fare():
    reader = card_with()
    result = gate_out("0103").tap(reader, at(0))
    assert result.accepted and FareFlag.MAX_FARE_NO_ENTRY in result.decision.flags
    assert result.decision.base_fare == DEPOSIT.metros[CZ].max_fare  # the longest trip, 7.00
    assert result.amount == apply_rate(DEPOSIT.metros[CZ].max_fare, 95, 100)  # card discount applies


def test_an_entry_without_exit_is_fined_at_the_next_entry():
    reader = card_with()
    gate_in("0101").tap(reader, at(0))
    fined = gate_in("0102").tap(reader, at(300))
    penalty = DEPOSIT.metros[CZ].unfinished_entry_penalty
    # The unclosed entry's 1.00 deposit counts towards its penalty; the new entry takes its own.
    assert fined.accepted and fined.decision.penalty == penalty and fined.amount == penalty - 100 + 100
    assert fined.decision.deposit_credited == 100
    assert balance(reader) == 5000 - 100 - penalty
    assert FareFlag.UNFINISHED_ENTRY_PENALTY in fined.decision.flags


def test_the_maximum_stay_on_both_sides_of_the_limit():
    """240 minutes (example default): an exit at the limit pays the distance fare; one second
    later the entry counts as unfinished (penalty 7.00, deposit credited) and the exit as one
    without an entry (7.00 × 0.95)."""
    limit = DEPOSIT.metros[CZ].max_stay.minutes
    in_time = card_with()
    gate_in("0101").tap(in_time, at(0))
    closed = gate_out("0104").tap(in_time, at(limit))
    assert closed.accepted and closed.amount == 380 - 100 and closed.decision.penalty == 0
    late = card_with()
    gate_in("0101").tap(late, at(0))
    fined = gate_out("0104").tap(late, at(limit + 1 / 60))
    assert fined.accepted and FareFlag.STAY_EXCEEDED in fined.decision.flags
    assert (fined.decision.penalty, fined.decision.fare, fined.amount) == (700, 665, 700 + 665 - 100)
    assert balance(late) == 5000 - 700 - 665
    assert not records.find_trip_state(terminal.read_purse(late).complex_records).entry_open
    assert gate_in("0104").tap(late, at(limit + 30)).decision.penalty == 0


def test_a_deposit_as_large_as_the_cheapest_fare_is_cut_to_what_the_card_will_pay():
    """2.00 deposit, the cheapest base fare: a T-Union card never pays less than 2.00 × 0.95 at the
    exit, so 1.90 is taken at entry and a short trip costs nothing more at the exit."""
    fares = fares_with(entry_debit=200)
    reader = card_with()
    assert gate_in("0101", fares).tap(reader, at(0)).amount == 190
    short = gate_out("0102", fares).tap(reader, at(10))  # 3 km: 2.00 × 0.95
    assert (short.decision.fare, short.decision.deposit_credited, short.amount) == (190, 190, 0)
    assert gate_in("0102", fares).tap(reader, at(30)).amount == 190
    longer = gate_out("0104", fares).tap(reader, at(50))  # 10 km: 3.00 × 0.95
    assert (longer.decision.fare, longer.amount) == (285, 95)
    assert balance(reader) == 5000 - 190 - 285


def test_an_exit_beyond_the_balance_is_refused_then_settled_at_the_station_desk_after_a_top_up():
    reader = card_with(300)
    gate_in("0101").tap(reader, at(0))  # 1.00 deposit, 2.00 left
    gate = gate_out("0106")  # 24 km: 6.00 × 0.95 = 5.70, 4.70 after the deposit
    refused = gate.tap(reader, at(40))
    assert not refused.accepted and refused.refusal.reason is RefusalReason.INSUFFICIENT_BALANCE
    assert refused.amount == 0 and refused.decision.amount == 470
    assert "2.00" in refused.refusal.en and "4.70" in refused.refusal.en
    assert balance(reader) == 200 and gate.pending_records() == []
    desk = gate_out("0106")
    assert not station_desk_settle(desk, reader, at(45)).accepted  # still short
    terminal.load(reader, LoadHost(KEYS), 1000, bytes.fromhex("304010000001"), at(50))
    settled = station_desk_settle(desk, reader, at(52))
    assert settled.accepted and settled.amount == 470 and balance(reader) == 1200 - 470
    assert desk.pending_records() == [settled.record]
    with pytest.raises(ValueError):
        station_desk_settle(gate_in("0106"), reader, at(53))


def test_metro_entry_without_a_deposit_records_a_zero_amount_capped_purchase():
    """The packaged configuration takes no deposit at entry: the gate writes the entry record
    with a capped purchase of 0 (JT/T 978 practice)."""
    reader = card_with()
    entry = validator(metro_entry(CZ, "0101", "CZMETRO"), fares=None).tap(reader, at(0))
    assert entry.accepted and balance(reader) == 5000
    assert entry.amount == 0 and records.find_trip_state(terminal.read_purse(reader).complex_records).entry_open


# --- refusals -------------------------------------------------------------------------------


def test_a_card_whose_offline_counter_is_used_up_is_refused_with_the_reason_and_never_wraps():
    """The last ride is the one at counter FFFE; at FFFF the gate refuses (exchange the card)
    and writes nothing, so no second record with a counter clearing already holds."""
    reader = card_with()
    reader.card.mf.child("1001").purse.offline_counter = 0xFFFE
    line = bus_line()
    last = line.tap(reader, at(0))
    assert last.accepted and last.record.counter == 0xFFFE
    refused = line.tap(reader, at(90))
    assert not refused.accepted and refused.refusal.reason is RefusalReason.COUNTER_EXHAUSTED
    assert "换卡" in refused.refusal.zh and "exchange the card" in refused.refusal.en
    assert refused.asn == last.asn and refused.decision.amount == 120
    assert balance(reader) == 5000 - 120 and [r.counter for r in line.drain()] == [0xFFFE]
    assert gate_in("0101").tap(reader, at(100)).refusal.reason is RefusalReason.COUNTER_EXHAUSTED


def test_a_card_that_would_wrap_its_offline_counter_is_refused_at_ffff_with_the_reason():
    """A card variant whose counter wraps to 0000 instead of locking answers INITIALIZE at FFFF
    as if all were well: the validator still refuses it (exchange the card) before any debit,
    so clearing never sees a second record with counter 0000."""
    chip = Card(personalise(replace(BASE, asn="03104000000000000077"), KEYS), wrapping_counters=True)
    reader = EmulatorReader(chip)
    reader.connect()
    terminal.load(reader, LoadHost(KEYS), 5000, bytes.fromhex("304010000001"), at(-60))
    purse = chip.mf.child("1001").purse
    purse.offline_counter = 0xFFFE
    line = bus_line()
    last = line.tap(reader, at(0))
    assert last.accepted and last.record.counter == 0xFFFE and purse.offline_counter == 0xFFFF
    refused = line.tap(reader, at(90))
    assert not refused.accepted and refused.refusal.reason is RefusalReason.COUNTER_EXHAUSTED
    assert "换卡" in refused.refusal.zh and "exchange the card" in refused.refusal.en
    assert refused.decision.amount == 120 and refused.rider is not None  # priced, then refused
    entry = gate_in("0101").tap(reader, at(100))
    assert entry.refusal.reason is RefusalReason.COUNTER_EXHAUSTED
    assert purse.offline_counter == 0xFFFF and balance(reader) == 5000 - 120
    assert [r.counter for r in line.drain()] == [0xFFFE]


def test_a_deny_listed_card_is_refused_offline():
    reader = card_with()
    deny = DenyList()
    deny.apply(version=3, added=[BASE.asn], removed=[])
    result = validator(bus(CZ, "1", "CZBUS"), deny=deny).tap(reader, at(0))
    assert not result.accepted and result.refusal.reason is RefusalReason.DENY_LISTED
    assert "黑名单" in result.refusal.zh and balance(reader) == 5000
    deny.apply(version=2, added=[], removed=[BASE.asn])  # an older delta changes nothing
    assert BASE.asn in deny
    deny.apply(version=4, added=[], removed=[BASE.asn])
    assert validator(bus(CZ, "1", "CZBUS"), deny=deny).tap(reader, at(1)).accepted


def test_an_expired_application_is_refused():
    reader = card_with(expiry_date=date(2026, 3, 1))
    result = bus_line().tap(reader, at(0))
    assert result.refusal.reason is RefusalReason.EXPIRED and "2026-03-01" in result.refusal.en


def test_a_blocked_wallet_is_refused():
    reader = card_with()
    terminal.select_purse(reader)
    challenge = ResponseApdu.parse(reader.transmit(command(0x00, 0x84, 0x00, 0x00, le=4))).data
    block = secure_command(KEYS, factors=card_factor_values(replace(BASE, issuer_id="01013040FFFFFFFF")),
                           alg_id=0x04, challenge=challenge, cla=0x84, ins=0x1E, p2=0x01)
    assert ResponseApdu.parse(reader.transmit(block)).ok
    result = bus_line().tap(reader, at(0))
    assert result.refusal.reason is RefusalReason.WALLET_BLOCKED


def test_a_card_pulled_away_before_the_debit_is_refused_and_charged_nothing():
    reader = card_with()
    reader.card.arm_tear(TearPoint.BEFORE_COMMIT, ins=0xB2)  # while reading the log
    result = bus_line().tap(reader, at(0))
    assert result.refusal.reason is RefusalReason.CARD_REMOVED
    reader.connect()
    assert balance(reader) == 5000


# --- torn debits ----------------------------------------------------------------------------


@pytest.mark.parametrize(("point", "retry_after", "charged", "records_kept"), [
    (TearPoint.AFTER_COMMIT, 10, 120, 1),     # debited: the retry is that tap, not a second one
    (TearPoint.BEFORE_COMMIT, 10, 120, 1),    # not debited: the retry charges it
    (TearPoint.AFTER_COMMIT, 600, 180, 2),    # debited; ten minutes later a new ride (a transfer)
])
def test_a_torn_debit_is_settled_when_the_card_comes_back(point, retry_after, charged, records_kept):
    reader = card_with()
    validator_ = bus_line()
    reader.card.arm_tear(point, ins=0x54)
    torn = validator_.tap(reader, at(0))
    assert not torn.accepted and torn.refusal.reason is RefusalReason.CARD_REMOVED
    reader.connect()
    retried = validator_.tap(reader, at(0) + timedelta(seconds=retry_after))
    assert retried.accepted
    assert retried.recovered == (point is TearPoint.AFTER_COMMIT and retry_after < 120)
    assert balance(reader) == 5000 - charged
    kept = validator_.drain()
    assert len(kept) == records_kept and all(verify_tac(record, KEYS) for record in kept)
    assert len({record.counter for record in kept}) == records_kept  # never the same debit twice


def test_history_from_the_card_matches_what_the_validators_wrote():
    reader = card_with()
    bus_line("1").tap(reader, at(0))
    gate_in("0101").tap(reader, at(20))
    view = terminal.read_purse(reader)
    history = records.history(view.transit_log, records.find_trip_state(view.complex_records))
    assert [(h.tap.kind, h.amount, h.entry_open, h.deposit, h.chain_start) for h in history] == [
        (TapKind.BOARD, 120, False, 0, at(0)),
        (TapKind.ENTRY, 95, True, 95, at(0)),  # a transfer: the deposit is at most (2 − 1) × 0.95
    ]


def test_a_place_without_fares_refuses_instead_of_guessing():
    reader = card_with()
    beijing_metro = validator(metro_entry("1000", "BJ01", "BJMETRO"))
    assert beijing_metro.tap(reader, at(0)).refusal.reason is RefusalReason.FARE_NOT_CONFIGURED
    unknown_station = gate_out("9999").tap(reader, at(1))
    assert unknown_station.refusal.reason is RefusalReason.FARE_NOT_CONFIGURED and "9999" in unknown_station.refusal.en
    assert balance(reader) == 5000
