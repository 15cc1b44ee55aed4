"""The T-Union e-purse end to end: load, purchase, capped transit purchase, limits, sequence
rules, proofs, and APPLICATION BLOCK / UNBLOCK — in both algorithm profiles."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.chip.conftest import TERMINAL_ID, WHEN, card_data
from yikatong.chip import terminal
from yikatong.chip.apdu import ResponseApdu, command
from yikatong.chip.apps.purse import SFI_COMPLEX, TUNION_AID, TransitLogEntry
from yikatong.chip.emulator import Card
from yikatong.chip.errors import (
    BalanceLimitExceeded,
    CardRefused,
    CounterExhausted,
    InsufficientBalance,
    MacInvalid,
    PurseBlocked,
)
from yikatong.chip.host import LoadHost, LoadRequest, secure_command, verify_tac
from yikatong.chip.image import card_factor_values, personalise
from yikatong.chip.psam import E_PURSE_TERMINAL, ISSUER_OUTLET, Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.terminal import CappUpdate
from yikatong.core.errors import InvalidInput
from yikatong.crypto.pboc import TX_CAPPED_PURCHASE, TX_EP_LOAD, TX_EP_PURCHASE, profile_named

h = bytes.fromhex


def status(reader, apdu: bytes) -> int:
    return ResponseApdu.parse(reader.transmit(apdu)).sw


def balance(reader) -> int:
    terminal.select_purse(reader, allow_blocked=True)
    return terminal.get_balance(reader)


def init_purchase(amount: int, p1: int = 0x01, key_index: int = 1) -> bytes:
    return command(0x80, 0x50, p1, 0x02, bytes([key_index]) + amount.to_bytes(4, "big") + TERMINAL_ID, le=0x0F)


def test_load_then_purchase_records_verify(reader, host, psam, keystore, algorithm):
    loaded = terminal.load(reader, host, 5000, TERMINAL_ID, WHEN)
    bought = terminal.purchase(reader, psam, 230, WHEN)
    assert (loaded.tx_type, loaded.balance_after, loaded.counter) == (TX_EP_LOAD, 5000, 0)
    assert (bought.tx_type, bought.balance_after, bought.counter) == (TX_EP_PURCHASE, 4770, 0)
    assert bought.alg_id == loaded.alg_id == profile_named(algorithm).alg_id
    assert bought.terminal_serial == psam.serial == 1
    assert verify_tac(loaded, keystore) and verify_tac(bought, keystore)
    assert not verify_tac(replace(bought, amount=231), keystore)
    assert not verify_tac(replace(loaded, balance_after=5001), keystore)
    view = terminal.read_purse(reader)
    assert (view.balance, view.online_counter, view.offline_counter) == (4770, 1, 1)
    assert [(e.tx_type, e.amount) for e in view.transactions] == [(TX_EP_PURCHASE, 230), (TX_EP_LOAD, 5000)]
    assert view.transactions[0].when == WHEN and view.transactions[0].terminal_id == TERMINAL_ID


def test_balance_cap_is_enforced_by_the_card_and_the_host(reader, host):
    terminal.load(reader, host, 100_000, TERMINAL_ID, WHEN)
    with pytest.raises(BalanceLimitExceeded):
        terminal.load(reader, host, 1, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    probe = command(0x80, 0x50, 0x00, 0x02, b"\x01" + (1).to_bytes(4, "big") + TERMINAL_ID, le=0x10)
    assert status(reader, probe) == 0x6985  # the card itself refuses
    assert balance(reader) == 100_000


def test_host_refuses_a_forged_mac1_and_an_over_limit_load(reader, host, keystore):
    public = terminal.select_purse(reader)
    init = ResponseApdu.parse(reader.transmit(command(
        0x80, 0x50, 0x00, 0x02, b"\x01" + (700).to_bytes(4, "big") + TERMINAL_ID, le=0x10))).data
    request = LoadRequest(public.issuer_id, public.asn, init[6], init[7], init[8:12], 0, 0, 700,
                          TERMINAL_ID, init[12:16], h("20260302"), h("093000"))
    assert len(host.authorise_load(request)) == 4
    with pytest.raises(MacInvalid):
        host.authorise_load(replace(request, amount=701))
    with pytest.raises(BalanceLimitExceeded):
        LoadHost(keystore, balance_limit=600).authorise_load(request)
    # a bad MAC2 is refused by the card with 9302 and nothing changes
    assert status(reader, command(0x80, 0x52, 0x00, 0x00, h("20260302093000") + bytes(4), le=4)) == 0x9302
    assert balance(reader) == 0


def test_insufficient_balance(reader, psam, host):
    terminal.load(reader, host, 100, TERMINAL_ID, WHEN)
    with pytest.raises(InsufficientBalance):
        terminal.purchase(reader, psam, 101, WHEN)
    assert status(reader, init_purchase(101)) == 0x9401
    assert terminal.purchase(reader, psam, 100, WHEN).balance_after == 0


def test_overdraft_limit_per_issuer(keystore, psam, host):
    card = Card(personalise(card_data(overdraft_limit=500), keystore))
    reader = EmulatorReader(card)
    reader.connect()
    terminal.load(reader, host, 200, TERMINAL_ID, WHEN)
    record = terminal.purchase(reader, psam, 650, WHEN)
    assert record.balance_after == -450 == balance(reader)
    assert ResponseApdu.parse(reader.transmit(command(0x80, 0x5C, 0x00, 0x02, le=4))).data == bytes(4)
    assert ResponseApdu.parse(reader.transmit(command(0x80, 0x5C, 0x01, 0x02, le=4))).data == (450).to_bytes(4, "big")
    with pytest.raises(InsufficientBalance):
        terminal.purchase(reader, psam, 51, WHEN)
    loaded = terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    assert loaded.balance_after == 550 and verify_tac(loaded, keystore) and verify_tac(record, keystore)


@pytest.mark.parametrize(("rider", "code"), [("adult", 0x00), ("student", 0x01), ("senior_70", 0x02),
                                            ("disabled", 0x03)])
def test_personalisation_writes_the_card_kind_and_rider_category_into_0017(keystore, rider, code):
    reader = EmulatorReader(Card(personalise(card_data(7, rider=rider), keystore)))
    reader.connect()
    terminal.select_purse(reader)
    management = terminal.expect(terminal.exchange(reader, command(0x00, 0xB0, 0x80 | 0x17, 0x00, le=0)),
                                 "READ BINARY 0017")
    assert len(management) == 60
    assert management[:10] == h("00000156" "3200" "3040" "0000")
    assert (management[10], management[11]) == (0x01, code)  # a social security card; the rider


def test_an_unknown_rider_category_is_refused_before_personalisation():
    with pytest.raises(InvalidInput) as refused:
        card_data(8, rider="pensioner")
    assert "rider" in refused.value.message_en and "乘客类别" in refused.value.message_zh


def test_changzhou_default_overdraft_is_zero(reader):
    terminal.select_purse(reader)
    init = ResponseApdu.parse(reader.transmit(init_purchase(0x01)))
    assert init.sw == 0x9401  # empty purse, no overdraft


@pytest.mark.parametrize("before, command_hex, expected", [
    (None, "805200000B202603020930000000000004", 0x6985),  # credit without init
    (None, "805401000F000000012026030209300000000000" "08", 0x6985),  # debit without init
    ("load", "805401000F000000012026030209300000000000" "08", 0x6985),  # debit in a load session
    ("purchase", "805200000B202603020930000000000004", 0x6985),  # credit in a purchase session
    ("purchase", "80DC00F030" + "00" * 48, 0x6985),  # cache outside a capped purchase
])
def test_out_of_sequence_commands(reader, host, before, command_hex, expected):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    if before == "load":
        reader.transmit(command(0x80, 0x50, 0x00, 0x02, b"\x01" + bytes([0, 0, 0, 1]) + TERMINAL_ID, le=0x10))
    elif before == "purchase":
        reader.transmit(init_purchase(10))
    assert status(reader, h(command_hex)) == expected


def test_any_other_command_ends_the_session_but_get_balance_does_not(reader, host, psam):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    reader.transmit(init_purchase(10))
    assert status(reader, command(0x80, 0x5C, 0x00, 0x02, le=4)) == 0x9000
    assert reader.card.volatile.purse_session is not None
    reader.transmit(command(0x00, 0xB0, 0x95, 0x00, le=1))
    assert reader.card.volatile.purse_session is None


def test_bad_mac1_changes_nothing_and_ends_the_session(reader, host):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    reader.transmit(init_purchase(10))
    debit = command(0x80, 0x54, 0x01, 0x00, h("00000001") + h("20260302093000") + bytes(4), le=8)
    assert status(reader, debit) == 0x9302
    assert status(reader, debit) == 0x6985
    assert balance(reader) == 1000


def test_key_index_and_counter_exhaustion(reader, host, card):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    assert status(reader, init_purchase(10, key_index=2)) == 0x9403
    card.mf.child("1001").purse.offline_counter = 0xFFFF
    assert status(reader, init_purchase(10)) == 0x9402


@pytest.mark.parametrize("kind", ["purchase", "load"])
def test_a_counter_takes_its_last_transaction_at_fffe_then_locks_instead_of_wrapping(reader, host, psam, card,
                                                                                    kind):
    """The 2-byte counters: a transaction carries the counter before its increment, so FFFE is
    the last one; at FFFF the card answers 9402 and changes nothing (no wrap to 0000)."""
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    purse = card.mf.child("1001").purse
    if kind == "purchase":
        purse.offline_counter = 0xFFFE
        last = terminal.purchase(reader, psam, 10, WHEN)
    else:
        purse.online_counter = 0xFFFE
        last = terminal.load(reader, host, 10, TERMINAL_ID, WHEN)
    assert last.counter == 0xFFFE
    assert (purse.offline_counter if kind == "purchase" else purse.online_counter) == 0xFFFF
    before = (purse.balance, terminal.read_records(reader, 0x18))
    with pytest.raises(CardRefused) as refused:
        if kind == "purchase":
            terminal.purchase(reader, psam, 10, WHEN)
        else:
            terminal.load(reader, host, 10, TERMINAL_ID, WHEN)
    assert refused.value.details["sw"] == "9402" and isinstance(refused.value, CounterExhausted)
    assert (purse.balance, terminal.read_records(reader, 0x18)) == before
    assert (purse.offline_counter if kind == "purchase" else purse.online_counter) == 0xFFFF


def wrapping_card(keystore, algorithm: str, serial: int) -> tuple[EmulatorReader, object]:
    """A card variant whose OS wraps its 2-byte counters from FFFF to 0000 instead of locking."""
    chip = Card(personalise(card_data(serial, purse_algorithm=algorithm), keystore), wrapping_counters=True)
    reader = EmulatorReader(chip)
    reader.connect()
    return reader, chip.mf.child("1001").purse


def test_the_wrapping_card_variant_does_wrap_when_a_terminal_does_not_check(keystore, host, algorithm):
    """What the terminal check guards against: INITIALIZE at FFFF answers 9000 and the credit
    leaves the counter at 0000, so the next load would carry counter 0000 again."""
    reader, purse = wrapping_card(keystore, algorithm, 31)
    purse.online_counter = 0xFFFF
    public = terminal.select_purse(reader)
    init = ResponseApdu.parse(reader.transmit(command(
        0x80, 0x50, 0x00, 0x02, b"\x01" + (700).to_bytes(4, "big") + TERMINAL_ID, le=0x10)))
    assert init.sw == 0x9000 and init.data[4:6] == h("FFFF")
    mac2 = host.authorise_load(LoadRequest(public.issuer_id, public.asn, init.data[6], init.data[7],
                                           init.data[8:12], 0xFFFF, 0, 700, TERMINAL_ID, init.data[12:16],
                                           h("20260302"), h("093000")))
    assert status(reader, command(0x80, 0x52, 0x00, 0x00, h("20260302093000") + mac2, le=4)) == 0x9000
    assert (purse.online_counter, purse.balance) == (0x0000, 700)


@pytest.mark.parametrize("kind", ["purchase", "load"])
def test_a_card_reporting_its_counter_at_ffff_is_refused_before_any_debit_or_credit(keystore, host, psam,
                                                                                     algorithm, kind):
    """The terminal library refuses at the INITIALIZE answer, before the PSAM's MAC1 or the
    host's MAC2, whether the card would wrap (it answers 9000 with FFFF) or lock (9402)."""
    reader, purse = wrapping_card(keystore, algorithm, 32)
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    counter = "offline_counter" if kind == "purchase" else "online_counter"
    setattr(purse, counter, 0xFFFF)
    before = (purse.balance, terminal.read_records(reader, 0x18), psam.serial)
    with pytest.raises(CounterExhausted) as refused:
        if kind == "purchase":
            terminal.purchase(reader, psam, 10, WHEN)
        else:
            terminal.load(reader, host, 10, TERMINAL_ID, WHEN)
    assert refused.value.details["sw"] == "9000"  # the card itself would have gone on
    assert refused.value.details["counter"] == counter.removesuffix("_counter")
    assert refused.value.code == "purse_counter_exhausted" and refused.value.http_status == 409
    assert "FFFF" in refused.value.message_zh and "换卡" in refused.value.message_zh
    assert "exchange the card" in refused.value.message_en
    assert (purse.balance, terminal.read_records(reader, 0x18), psam.serial) == before
    assert getattr(purse, counter) == 0xFFFF  # never wrapped to 0000


def test_capped_purchase_commits_cached_records_only_with_the_debit(reader, host, psam, keystore):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    entry = TransitLogEntry(kind=0x03, terminal=b"\x00\x00" + TERMINAL_ID, subtype=0, station=bytes(6) + b"\x12",
                            amount=0, balance_after=1000, when=WHEN, city="3040", institution=b"CZBUS-01")
    trip = CappUpdate(SFI_COMPLEX, bytes([0x01, 0x05]) + b"line-12 boarded".ljust(30, b"\x00"))
    record = terminal.purchase(reader, psam, 200, WHEN, capp_record=[CappUpdate.transit_log(entry), trip])
    assert record.tx_type == TX_CAPPED_PURCHASE and verify_tac(record, keystore)
    view = terminal.read_purse(reader)
    assert view.transit_log == [entry]
    assert view.complex_records == [trip.data]
    # same record id again: replaced, not appended
    second = CappUpdate(SFI_COMPLEX, bytes([0x01, 0x06]) + bytes(30))
    terminal.purchase(reader, psam, 100, WHEN, capp_record=second)
    assert terminal.read_purse(reader).complex_records == [second.data]
    # a failed debit writes nothing
    terminal.select_purse(reader)
    reader.transmit(init_purchase(100, p1=0x03))
    assert status(reader, CappUpdate.transit_log(entry).apdu()) == 0x9000
    bad = command(0x80, 0x54, 0x01, 0x00, h("00000009") + h("20260302093000") + bytes(4), le=8)
    assert status(reader, bad) == 0x9302
    assert len(terminal.read_purse(reader).transit_log) == 1


@pytest.mark.parametrize("update, expected", [
    ("80DC00F00400000000", 0x6700),  # a 001E record is 48 bytes
    ("80DC02D0020100", 0x6A80),  # record id 02 but the data starts with 01
    ("80DC01D8020100", 0x6A82),  # no SFI 1B
    ("80DC01A8020100", 0x6981),  # SFI 15 is a binary file
])
def test_capp_cache_refusals(reader, host, update, expected):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    reader.transmit(init_purchase(10, p1=0x03))
    assert status(reader, h(update)) == expected


def test_get_transaction_prove_only_for_the_last_transaction(reader, host, psam):
    loaded = terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    proof = ResponseApdu.parse(reader.transmit(command(0x80, 0x5A, 0x00, TX_EP_LOAD, h("0000"), le=8)))
    assert proof.ok and proof.data[4:].hex().upper() == loaded.tac
    bought = terminal.purchase(reader, psam, 10, WHEN)
    assert status(reader, command(0x80, 0x5A, 0x00, TX_EP_LOAD, h("0000"), le=8)) == 0x9406
    assert status(reader, command(0x80, 0x5A, 0x00, TX_EP_PURCHASE, h("0001"), le=8)) == 0x9406
    proof = ResponseApdu.parse(reader.transmit(command(0x80, 0x5A, 0x00, TX_EP_PURCHASE, h("0000"), le=8)))
    assert proof.data[4:].hex().upper() == bought.tac


def block_command(reader, keystore, algorithm, ins, p2=0) -> bytes:
    challenge = ResponseApdu.parse(reader.transmit(command(0x00, 0x84, 0x00, 0x00, le=4))).data
    return secure_command(keystore, factors=card_factor_values(card_data(purse_algorithm=algorithm)),
                          alg_id=profile_named(algorithm).alg_id, challenge=challenge,
                          cla=0x84, ins=ins, p2=p2)


def test_application_block_and_unblock(reader, host, psam, keystore, algorithm):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    assert status(reader, command(0x84, 0x1E, 0x00, 0x00, bytes(4))) == 0x6984  # no challenge
    assert status(reader, command(0x80, 0x1E, 0x00, 0x00)) == 0x6982  # plain: refused
    assert status(reader, block_command(reader, keystore, algorithm, 0x1E)) == 0x9000
    assert status(reader, command(0x00, 0xA4, 0x04, 0x00, TUNION_AID, le=0)) == 0x6283
    assert status(reader, command(0x80, 0x5C, 0x00, 0x02, le=4)) == 0x6A81
    assert status(reader, init_purchase(10)) == 0x6A81
    with pytest.raises(PurseBlocked):
        terminal.purchase(reader, psam, 10, WHEN)
    view = terminal.read_purse(reader)
    assert view.blocked and view.balance is None and len(view.transactions) == 1
    assert status(reader, block_command(reader, keystore, algorithm, 0x18)) == 0x9000
    assert terminal.purchase(reader, psam, 10, WHEN).balance_after == 990
    # permanent: no way back
    terminal.select_purse(reader)
    assert status(reader, block_command(reader, keystore, algorithm, 0x1E, p2=0x01)) == 0x9000
    assert status(reader, block_command(reader, keystore, algorithm, 0x18)) == 0x9303


def test_psam_rejects_a_wrong_mac2(reader, host, psam):
    terminal.load(reader, host, 1000, TERMINAL_ID, WHEN)
    record = terminal.purchase(reader, psam, 10, WHEN)
    with pytest.raises(MacInvalid):
        psam.verify_mac2(record.terminal_serial, bytes(4))



def test_zero_amount_only_for_capped_purchase(reader, host):
    """Metro gates write entry records with a 0-fen capped purchase; loads and plain
    purchases of 0 are refused."""
    terminal.load(reader, host, 500, TERMINAL_ID, WHEN)
    terminal.select_purse(reader)
    assert status(reader, command(0x80, 0x50, 0x00, 0x02, b"\x01" + bytes(4) + TERMINAL_ID, le=0x10)) == 0x6A80
    assert status(reader, init_purchase(0, p1=0x01)) == 0x6A80
    assert status(reader, init_purchase(0, p1=0x03)) == 0x9000


@pytest.mark.parametrize("purposes", [E_PURSE_TERMINAL, ISSUER_OUTLET])
def test_no_terminal_psam_holds_the_tac_master_yet_its_purchases_verify(keystore, host, card,
                                                                         purposes):
    psam = Psam(keystore, terminal_id=TERMINAL_ID, purposes=purposes)
    reader = EmulatorReader(card)
    reader.connect()
    terminal.load(reader, host, 500, TERMINAL_ID, WHEN)
    record = terminal.purchase(reader, psam, 120, WHEN)
    assert not psam.holds("tac")
    assert verify_tac(record, keystore)  # clearing checks the TAC with the key store
