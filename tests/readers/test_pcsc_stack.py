"""Through the operating system's real PC/SC stack: a card inserted into pcscd via vpcd,
talked to by pyscard and by unmodified PC/SC tools."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.readers.conftest import card_in_vpcd
from tests.readers.fakes import OK, EchoCard
from yikatong.readers.pcsc import PcscReader, list_readers

pytestmark = pytest.mark.pcsc

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"


def test_pyscard_sees_the_inserted_card_and_its_atr(pcsc_stack):
    card = EchoCard()
    saved: list[int] = []
    with card_in_vpcd(card, after_command=lambda: saved.append(1)):
        assert pcsc_stack in list_readers()
        with PcscReader(pcsc_stack) as reader:
            assert reader.connect() == card.ATR
            assert reader.transmit(bytes.fromhex(SELECT_SSSE)) == OK
            assert reader.transmit(bytes.fromhex("80EE000003414243")) == b"ABC" + OK
    assert card.commands[-2:] == [bytes.fromhex(SELECT_SSSE), bytes.fromhex("80EE000003414243")]
    assert len(saved) == len(card.commands)


@pytest.mark.skipif(shutil.which("opensc-tool") is None, reason="opensc-tool not installed")
def test_opensc_tool_reads_the_atr_and_selects_the_social_security_application(pcsc_stack):
    card = EchoCard()
    with card_in_vpcd(card):
        atr = _run("opensc-tool", "--reader", pcsc_stack, "--atr")
        selected = _run("opensc-tool", "--reader", pcsc_stack, "--send-apdu", SELECT_SSSE)
    assert atr.strip().replace(":", "").lower() == card.ATR.hex()
    assert "SW1=0x90, SW2=0x00" in selected
    assert bytes.fromhex(SELECT_SSSE) in card.commands


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout
