"""Through the operating system's real PC/SC stack: a personalised emulated card inserted
into pcscd via vpcd, used by the terminal library over pyscard and by unmodified PC/SC
tools (opensc-tool, pcsc_scan)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from tests.readers.conftest import card_in_vpcd
from yikatong.chip.emulator import TearPoint
from yikatong.chip.errors import TransactionInterrupted
from yikatong.chip.host import LoadHost, verify_tac
from yikatong.chip.psam import ISSUER_OUTLET, Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.terminal import (
    get_balance,
    load,
    purchase,
    read_social_security,
    recover_purchase,
    select_purse,
)
from yikatong.readers.insert import SaveWhenChanged
from yikatong.readers.pcsc import PcscReader, list_readers

pytestmark = pytest.mark.pcsc

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
TERMINAL_ID = bytes.fromhex("320400000099")
WHEN = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


@pytest.fixture
def card(chip_store, stored_card):
    return chip_store.load(stored_card)


def test_social_security_data_is_read_through_pcscd(pcsc_stack, card, keystore):
    city_terminal = Psam(keystore, terminal_id=TERMINAL_ID)  # another city: national key
    issuer_outlet = Psam(keystore, terminal_id=TERMINAL_ID, purposes=ISSUER_OUTLET)
    direct = read_social_security(_powered(EmulatorReader(card)), issuer_outlet)

    with card_in_vpcd(card):
        assert pcsc_stack in list_readers()
        with PcscReader(pcsc_stack) as reader:
            assert reader.protocol == "T=0"  # the card's ATR offers T=0 only
            national = read_social_security(reader, city_terminal)
        with PcscReader(pcsc_stack) as reader:
            full = read_social_security(reader, issuer_outlet)

    assert full == direct  # pcscd + vpcd change nothing in what the terminal reads
    assert (national.card_no, national.ssn, national.name) == (direct.card_no, direct.ssn, direct.name)
    assert national.birth_date is None and national.gender is None  # issuer's key only
    assert direct.birth_date is not None


def test_load_and_purchase_run_end_to_end_and_the_card_persists(
    pcsc_stack, card, keystore, chip_store
):
    psam = Psam(keystore, terminal_id=TERMINAL_ID)
    with card_in_vpcd(card, after_command=SaveWhenChanged(chip_store, card)):
        with PcscReader(pcsc_stack) as reader:
            loaded = load(reader, LoadHost(keystore), 5000, TERMINAL_ID, WHEN)
            bought = purchase(reader, psam, 230, WHEN)
            balance = get_balance(reader)

    assert verify_tac(loaded, keystore) and verify_tac(bought, keystore)
    assert (loaded.balance_after, bought.balance_after, balance) == (5000, 4770, 4770)
    tomorrow = _powered(EmulatorReader(chip_store.load(card.card_no)))  # the saved image
    select_purse(tomorrow)
    assert get_balance(tomorrow) == 4770


def test_a_card_torn_during_the_debit_is_recovered_through_pcscd(pcsc_stack, card, keystore):
    psam = Psam(keystore, terminal_id=TERMINAL_ID)
    with card_in_vpcd(card):
        with PcscReader(pcsc_stack) as reader:
            load(reader, LoadHost(keystore), 1000, TERMINAL_ID, WHEN)
        card.arm_tear(TearPoint.AFTER_COMMIT, ins=0x54)  # debit done, answer lost
        with PcscReader(pcsc_stack) as reader, pytest.raises(TransactionInterrupted) as torn:
            purchase(reader, psam, 300, WHEN)
        # vpcd saw the card leave; it is inserted again, as a passenger taps again
        reader = PcscReader(pcsc_stack)
        reader.wait_for_card(timeout=10)
        record = recover_purchase(reader, psam, torn.value.pending)
        balance = get_balance(reader)
        reader.disconnect()

    assert record is not None and record.recovered and verify_tac(record, keystore)
    assert balance == record.balance_after == 700


@pytest.mark.skipif(shutil.which("opensc-tool") is None, reason="opensc-tool not installed")
def test_unmodified_pcsc_tools_see_the_card(pcsc_stack, card):
    with card_in_vpcd(card):
        atr = _run("opensc-tool", "--reader", pcsc_stack, "--atr")
        selected = _run("opensc-tool", "--reader", pcsc_stack, "--send-apdu", SELECT_SSSE)
        scan = _run("pcsc_scan", "-c", "-n") if shutil.which("pcsc_scan") else None

    assert bytes.fromhex(atr.strip().replace(":", "")) == card.image.atr
    assert "SW1=0x90, SW2=0x00" in selected
    if scan is not None:
        assert card.image.atr.hex(" ").upper() in scan


def _powered(reader: EmulatorReader) -> EmulatorReader:
    reader.connect()
    return reader


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_second_card_is_not_polled_while_the_reader_holds_one(pcsc_stack, card, keystore):
    from tests.chip.conftest import card_data
    from yikatong.chip.emulator import Card
    from yikatong.chip.image import personalise
    from yikatong.readers.vpcd import VirtualCardLink

    with card_in_vpcd(card):
        second = VirtualCardLink(Card(personalise(card_data(43), keystore)))
        second.connect()  # the kernel accepts it into vpcd's backlog...
        try:
            assert not second.polled.wait(1.5)  # ...but vpcd talks only to the first card
        finally:
            second.stop()
            second.serve()
