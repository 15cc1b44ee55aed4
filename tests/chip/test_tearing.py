"""Power cuts at every command of the load and purchase flows, before and after the commit
point: the card is all-or-nothing, and the terminal's recovery yields exactly one record."""

from __future__ import annotations

import pytest

from tests.chip.conftest import TERMINAL_ID, WHEN, card_data
from yikatong.chip.apps.purse import SFI_COMPLEX, TransitLogEntry
from yikatong.chip.emulator import Card, PowerCut, TearPoint
from yikatong.chip.host import LoadHost, verify_tac
from yikatong.chip.image import personalise
from yikatong.chip.protocols import CardRemoved
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.terminal import CappUpdate, Terminal

START_BALANCE = 5_000
AMOUNT = 230


def fixed_random(n: int) -> bytes:
    return bytes(range(1, n + 1))


def capp_updates() -> list[CappUpdate]:
    entry = TransitLogEntry(kind=0x06, terminal=bytes(2) + TERMINAL_ID, subtype=0, station=bytes(7),
                            amount=AMOUNT, balance_after=START_BALANCE - AMOUNT, when=WHEN, city="3040",
                            institution=bytes(8))
    return [CappUpdate.transit_log(entry), CappUpdate(SFI_COMPLEX, b"\x01" + bytes(40))]


def fresh(keystore, algorithm) -> tuple[Card, EmulatorReader, Terminal]:
    card = Card(personalise(card_data(purse_algorithm=algorithm), keystore), random=fixed_random)
    reader = EmulatorReader(card)
    reader.connect()
    psam = Psam(keystore, terminal_id=TERMINAL_ID, serial=100)
    return card, reader, Terminal(psam, LoadHost(keystore))


def run(flow: str, terminal: Terminal, reader: EmulatorReader):
    if flow == "load":
        return terminal.load(reader, 1_000, WHEN)
    return terminal.purchase(reader, AMOUNT, WHEN, capp_record=capp_updates())


def prepared(keystore, algorithm):
    card, reader, terminal = fresh(keystore, algorithm)
    terminal.load(reader, START_BALANCE, WHEN)
    return card, reader, terminal


def count_commands(flow: str, keystore, algorithm) -> tuple[int, str]:
    card, reader, terminal = prepared(keystore, algorithm)
    before = card.commands_seen
    run(flow, terminal, reader)
    return card.commands_seen - before, card.image.to_json()


def purse_of(card: Card):
    return card.mf.child("1001").purse


@pytest.mark.parametrize("flow", ["load", "purchase"])
@pytest.mark.parametrize("point", list(TearPoint))
def test_tear_at_every_command(flow, point, keystore, algorithm):
    commands, completed = count_commands(flow, keystore, algorithm)
    assert commands >= 7
    for at in range(1, commands + 1):
        card, reader, terminal = prepared(keystore, algorithm)
        untouched = card.image.to_json()
        before = purse_of(card).model_copy()
        log_before = len(card.mf.child("1001").child("0018").records)
        card.arm_tear(point, at_command=at)
        records = []
        with pytest.raises(CardRemoved):
            records.append(run(flow, terminal, reader))
        assert not card.powered
        # all or nothing: exactly the state before, or exactly the completed transaction
        assert card.image.to_json() in (untouched, completed), f"torn state at command {at}"
        reader.connect()  # the card comes back
        records.append(run(flow, terminal, reader))
        after = purse_of(card)
        if flow == "load":
            assert after.balance == before.balance + 1_000
            assert after.online_counter == before.online_counter + 1
        else:
            assert after.balance == before.balance - AMOUNT
            assert after.offline_counter == before.offline_counter + 1
            assert len(card.mf.child("1001").child("001E").records) == 1
        assert len(card.mf.child("1001").child("0018").records) == log_before + 1
        (record,) = records
        assert record.balance_after == after.balance
        assert verify_tac(record, keystore)
        assert not terminal.pending and terminal.records[-1] == record


def test_tear_after_debit_commit_is_recovered_not_charged_twice(keystore, algorithm):
    card, reader, terminal = prepared(keystore, algorithm)
    card.arm_tear(TearPoint.AFTER_COMMIT, ins=0x54)
    with pytest.raises(CardRemoved):
        run("purchase", terminal, reader)
    assert purse_of(card).balance == START_BALANCE - AMOUNT
    reader.connect()
    record = run("purchase", terminal, reader)
    assert record.recovered and purse_of(card).balance == START_BALANCE - AMOUNT
    assert verify_tac(record, keystore)


def test_tear_before_debit_commit_charges_on_the_next_tap(keystore, algorithm):
    card, reader, terminal = prepared(keystore, algorithm)
    card.arm_tear(TearPoint.BEFORE_COMMIT, ins=0x54)
    with pytest.raises(CardRemoved):
        run("purchase", terminal, reader)
    assert purse_of(card).balance == START_BALANCE
    assert not card.mf.child("1001").child("001E").records  # cached record rolled back
    reader.connect()
    record = run("purchase", terminal, reader)
    assert not record.recovered and record.balance_after == START_BALANCE - AMOUNT


def test_unpowered_card_answers_nothing(keystore, algorithm):
    card, reader, _ = fresh(keystore, algorithm)
    card.arm_tear(TearPoint.BEFORE_COMMIT)
    with pytest.raises(PowerCut):
        card.transmit(bytes.fromhex("00A40000023F00"))
    with pytest.raises(CardRemoved):
        reader.transmit(bytes.fromhex("00A40000023F00"))
    reader.remove()
    with pytest.raises(CardRemoved):
        reader.connect()
