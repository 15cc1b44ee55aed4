"""Pure rules of the wallet: recovery decisions (one row per case, and the never-twice property),
amount limits, the cap, order states, channels, the policy file; the 001E/001A layout."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.chip.apps.purse import PublicInfo, TransitLogEntry
from yikatong.core.actor import Channel, Role
from yikatong.core.clock import CST
from yikatong.transit import records, rules
from yikatong.transit.errors import (
    BalanceCapExceeded,
    ChannelNotForTopUp,
    InvalidTopUpAmount,
    PayerNotAccepted,
)
from yikatong.transit.fare_rules import (
    CardKind,
    FareDecision,
    Mode,
    PendingEntry,
    RiderCategory,
    Tap,
    TapKind,
)
from yikatong.transit.fare_rules import Discount as FareDiscount
from yikatong.transit.policy import WalletPolicyInvalid, default_policy, policy_from_dict
from yikatong.transit.protocols import PayerKind
from yikatong.transit.rules import CardEvidence, LoadAttempt, LoggedLoad, OrderState, Recovery

POLICY = default_policy()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
OUTLET = bytes.fromhex("304010000001")
PHONE = bytes.fromhex("304030000001")
ATTEMPT = LoadAttempt(counter=4, amount=5000, old_balance=1200, terminal_id=OUTLET, card_time=T0)


def ours(counter=4, amount=5000, terminal=OUTLET, when=T0) -> LoggedLoad:
    return LoggedLoad(counter, amount, terminal, when)


# --- recovery -------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "card", "decision"), [
    (None, CardEvidence(4, 1200, ()), Recovery.WRITE),
    (ATTEMPT, CardEvidence(4, 1200, ()), Recovery.REWRITE),                      # counter unchanged
    (ATTEMPT, CardEvidence(5, 6200, (ours(),)), Recovery.CONFIRMED),             # logged, ours
    (ATTEMPT, CardEvidence(5, 6080, (ours(),)), Recovery.CONFIRMED),             # … and a bus ride since
    (ATTEMPT, CardEvidence(6, 8200, (ours(5, 2000), ours())), Recovery.CONFIRMED),
    (ATTEMPT, CardEvidence(5, 1500, (ours(amount=300),)), Recovery.REWRITE),     # that counter: another load
    (ATTEMPT, CardEvidence(5, 6200, (ours(terminal=PHONE),)), Recovery.REWRITE),
    (ATTEMPT, CardEvidence(5, 6200, (ours(when=T0 + timedelta(seconds=1)),)), Recovery.REWRITE),
    (ATTEMPT, CardEvidence(5, 6200, ()), Recovery.CONFIRMED),                    # rotated out: balance proves it
    (ATTEMPT, CardEvidence(5, 5000, ()), Recovery.UNDECIDABLE),                  # rotated out, balance moved
    (ATTEMPT, CardEvidence(7, 6200, ()), Recovery.UNDECIDABLE),
    (ATTEMPT, CardEvidence(3, 1200, ()), Recovery.UNDECIDABLE),                  # counter went back?
    (ATTEMPT, CardEvidence(None, None, ()), Recovery.UNDECIDABLE),
], ids=lambda value: getattr(value, "value", None))
def test_recovery_decisions(attempt, card, decision):
    assert rules.decide_recovery(attempt, card) is decision


@settings(max_examples=200, deadline=None)
@given(counter=st.integers(0, 500), amount=st.integers(1, 500) .map(lambda y: y * 100),
       old_balance=st.integers(0, 50000), credited=st.booleans(),
       later=st.lists(st.tuples(st.sampled_from(["load", "buy"]), st.integers(1, 3000)), max_size=14))
def test_a_load_is_never_confirmed_unless_credited_nor_written_again_once_credited(
        counter, amount, old_balance, credited, later):
    """What a real card would show after the attempt (credited or not) and any later
    transactions, with its 10-record log: the decision is never the dangerous one."""
    log, online, balance = [], counter, old_balance
    if credited:
        log.insert(0, ("load", counter, amount, OUTLET))
        online, balance = counter + 1, old_balance + amount
    for index, (kind, value) in enumerate(later):
        if kind == "load":
            log.insert(0, ("load", online, value, PHONE))
            online, balance = online + 1, balance + value
        else:
            log.insert(0, ("buy", index, value, OUTLET))
            balance -= value
    shown = tuple(LoggedLoad(c, a, t, T0) for kind, c, a, t in log[:10] if kind == "load")
    decision = rules.decide_recovery(LoadAttempt(counter, amount, old_balance, OUTLET, T0),
                                     CardEvidence(online, balance, shown))
    if credited:
        assert decision in (Recovery.CONFIRMED, Recovery.UNDECIDABLE)
    else:
        assert decision in (Recovery.REWRITE, Recovery.UNDECIDABLE)


# --- amounts, cap, states, channels ------------------------------------------------------------


@pytest.mark.parametrize(("amount", "ok"), [
    (100, True), (50000, True), (12300, True), (0, False), (99, False), (50100, False), (150, False),
    (-100, False), (100.0, False), ("100", False), (True, False),
])
def test_top_up_amounts(amount, ok):
    if ok:
        assert rules.check_top_up_amount(amount, POLICY) == amount
    else:
        with pytest.raises(InvalidTopUpAmount):
            rules.check_top_up_amount(amount, POLICY)


@pytest.mark.parametrize(("balance", "amount", "ok"), [(50000, 50000, True), (50001, 50000, False),
                                                       (99900, 100, True), (100000, 100, False)])
def test_the_cap_of_1000_yuan(balance, amount, ok):
    if ok:
        rules.check_cap(balance, amount, POLICY)
    else:
        with pytest.raises(BalanceCapExceeded):
            rules.check_cap(balance, amount, POLICY)


LEGAL = {
    (OrderState.CREATED, OrderState.PAID), (OrderState.CREATED, OrderState.FAILED),
    (OrderState.PAID, OrderState.PENDING_WRITE), (OrderState.PAID, OrderState.DONE),
    (OrderState.PAID, OrderState.REFUNDING), (OrderState.PENDING_WRITE, OrderState.PENDING_WRITE),
    (OrderState.PENDING_WRITE, OrderState.DONE), (OrderState.PENDING_WRITE, OrderState.REFUNDING),
    (OrderState.REFUNDING, OrderState.REFUNDED),
}


@pytest.mark.parametrize("source", list(OrderState))
@pytest.mark.parametrize("target", list(OrderState))
def test_order_transitions(source, target):
    if (source, target) in LEGAL:
        rules.check_transition(source, target)
    else:
        with pytest.raises(rules.IllegalOrderTransition):
            rules.check_transition(source, target)


@pytest.mark.parametrize(("role", "channel", "expected"), [
    (Role.CITIZEN_OUTLET, Channel.CITIZEN_OUTLET, rules.TopUpChannel.CITIZEN_OUTLET),
    (Role.CITIZEN_OUTLET, Channel.SELF_SERVICE, rules.TopUpChannel.SELF_SERVICE),
    (Role.HOLDER, Channel.ONLINE_APP, rules.TopUpChannel.NFC),
    (Role.ADMIN, Channel.ONLINE_APP, rules.TopUpChannel.NFC),
    (Role.HOLDER, Channel.ONLINE_PORTAL, rules.TopUpChannel.ONLINE),
    (Role.HOLDER, Channel.CITIZEN_OUTLET, None),
    (Role.SS_OUTLET, Channel.OUTLET, None),
    (Role.BANK, Channel.BANK_BRANCH, None),
])
def test_top_up_channels(role, channel, expected):
    if expected is None:
        with pytest.raises(ChannelNotForTopUp):
            rules.top_up_channel(role, channel)
    else:
        assert rules.top_up_channel(role, channel) is expected


def test_payers_per_channel():
    rules.check_payer(rules.TopUpChannel.CITIZEN_OUTLET, PayerKind.CASH)
    with pytest.raises(PayerNotAccepted):
        rules.check_payer(rules.TopUpChannel.NFC, PayerKind.CASH)


def test_ledger_accounts():
    assert rules.account_settings(rules.WALLET_FLOAT) == ("liability", False)
    assert rules.account_settings(rules.outlet_till("SMK-DIRECT-01")) == ("asset", True)
    assert rules.payment_account("reference", "cash", None) == "transit:receivable:reference:cash"
    with pytest.raises(ValueError):
        rules.account_settings("bank:ICBC:customer:1")


# --- the policy file ------------------------------------------------------------------------------


def test_the_packaged_policy_is_an_example_default():
    assert POLICY.status == "example default – not official policy"
    assert (POLICY.top_up.max_amount, POLICY.wallet.balance_cap, POLICY.pending.refund_after_days) == (50000, 100000, 7)
    assert POLICY.load_terminal("nfc") == bytes.fromhex("304030000001")


@pytest.mark.parametrize(("section", "change", "problem"), [
    ("top_up", {"min_amount": 60000}, "min_amount exceeds max_amount"),
    ("top_up", {"max_amount": 50050}, "multiples of step"),
    ("wallet", {"balance_cap": 40000}, "exceeds wallet.balance_cap"),
    ("pending", {"refund_after_days": 0}, "refund_after_days"),
    ("load_terminals", {"nfc": "3040"}, "nfc"),
    ("refund", {"surprise": 1}, "surprise"),
])
def test_a_bad_policy_names_the_problem(section, change, problem):
    data = POLICY.model_dump()
    data[section] = {**data[section], **change}
    with pytest.raises(WalletPolicyInvalid) as invalid:
        policy_from_dict(data)
    assert problem in invalid.value.message_en


# --- 001E / 001A ----------------------------------------------------------------------------------

times = st.datetimes(min_value=datetime(2021, 6, 22), max_value=datetime(2099, 12, 31)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=CST))


@settings(max_examples=100, deadline=None)
@given(last=times, chain=times, entry=st.none() | times, deposit=st.integers(0, 10**6),
       city=st.from_regex(r"[0-9]{4}", fullmatch=True))
def test_trip_state_round_trips(last, chain, entry, deposit, city):
    state = records.TripState(city, last, chain, entry, deposit if entry else 0)
    encoded = state.encode()
    assert len(encoded) == records.TRIP_STATE_LENGTH and encoded[0] == records.TRIP_STATE_ID
    assert records.TripState.parse(encoded) == state


@pytest.mark.parametrize("record", [
    bytes(32), b"\x01\x02" + bytes(30), b"\x01" * 31, b"\x02" + bytes(31),
    records.TripState("3040", T0, T0).encode()[:4] + b"\x01" + records.TripState("3040", T0, T0).encode()[5:],
])
def test_trip_states_of_other_layouts_are_ignored(record):
    assert records.TripState.parse(record) is None
    assert records.find_trip_state([record]) is None


def decision(amount=120, chain=T0, pending=None) -> FareDecision:
    return FareDecision(amount=amount, base_fare=amount, transfer_deduction=0, discount=FareDiscount(1, 1, "x", "", ""),
                        fare=amount, chain_start=chain, config_version="test", pending_entry=pending)


@pytest.mark.parametrize("tap", [
    Tap(T0, "3040", Mode.BUS, TapKind.BOARD, line="B1"),
    Tap(T0, "3040", Mode.METRO, TapKind.ENTRY, station="0101"),
    Tap(T0, "3050", Mode.METRO, TapKind.EXIT, station="SZ0123"),
])
def test_a_tap_survives_the_001e_record(tap):
    entry = records.log_entry(tap, 120, 4880, OUTLET, "CZBUS")
    parsed = TransitLogEntry.parse(entry.encode())
    assert records.tap_of(parsed) == tap
    assert parsed.terminal == bytes(2) + OUTLET and parsed.institution.lstrip(b"\x00") == b"CZBUS"


def test_records_of_unknown_kinds_are_skipped():
    bus = records.log_entry(Tap(T0, "3040", Mode.BUS, TapKind.BOARD, line="1"), 120, 0, OUTLET, "X")
    odd = TransitLogEntry(0x07, bytes(8), 0x09, bytes(7), 10, 0, T0, "3040", bytes(8))
    no_station = TransitLogEntry(records.TYPE_ENTRY, bytes(8), records.MODE_METRO, bytes(7), 0, 0, T0, "3040",
                                 bytes(8))
    assert [view.tap for view in records.history([odd, no_station, bus], None)] == [records.tap_of(bus)]


def test_history_without_our_trip_state():
    """Another city's validators left no trip state: each record starts its chain, and an entry is
    open when no later metro record of its city follows."""
    def log(tap):
        return records.log_entry(tap, 0, 0, OUTLET, "SZMETRO")
    entry = Tap(T0, "3050", Mode.METRO, TapKind.ENTRY, station="A")
    exit_ = Tap(T0 + timedelta(minutes=20), "3050", Mode.METRO, TapKind.EXIT, station="B")
    again = Tap(T0 + timedelta(minutes=40), "3050", Mode.METRO, TapKind.ENTRY, station="B")
    views = records.history([log(again), log(exit_), log(entry)], None)  # newest first, as read
    assert [(v.tap.kind, v.entry_open, v.chain_start) for v in views] == [
        (TapKind.ENTRY, False, entry.when), (TapKind.EXIT, False, exit_.when), (TapKind.ENTRY, True, again.when)]


def test_a_bus_ride_keeps_an_open_entry_open():
    entry_tap = Tap(T0, "3040", Mode.METRO, TapKind.ENTRY, station="0101")
    state = records.next_state(None, entry_tap, decision(100, pending=PendingEntry("0101", T0, T0, 100)))
    bus_tap = Tap(T0 + timedelta(minutes=5), "3040", Mode.BUS, TapKind.BOARD, line="1")
    after_bus = records.next_state(state, bus_tap, decision())
    assert after_bus.entry_time == T0 and after_bus.deposit == 100 and after_bus.last_tap == bus_tap.when
    elsewhere = records.next_state(after_bus, Tap(bus_tap.when, "3050", Mode.BUS, TapKind.BOARD, line="1"), decision())
    assert not elsewhere.entry_open


@pytest.mark.parametrize(("management", "kind", "rider"), [
    (None, CardKind.CITY_CARD, RiderCategory.ADULT),
    (bytes(10) + b"\x01\x00", CardKind.SOCIAL_SECURITY, RiderCategory.ADULT),
    (bytes(10) + b"\x01\x02", CardKind.SOCIAL_SECURITY, RiderCategory.SENIOR_70),
    (bytes(10) + b"\x02\x01", CardKind.CITY_CARD, RiderCategory.STUDENT),
    (bytes(10) + b"\x01\x09", CardKind.SOCIAL_SECURITY, RiderCategory.ADULT),
])
def test_card_context_from_0015_and_0017(management, kind, rider):
    public = PublicInfo(bytes.fromhex("01013050FFFFFFFF"), 2, 1, bytes(10), date(2026, 1, 1), date(2036, 1, 1))
    context = records.card_context(public, management)
    assert (context.issuer_city, context.kind, context.rider) == ("3050", kind, rider)
