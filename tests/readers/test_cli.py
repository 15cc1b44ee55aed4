"""`ykt card list-readers | read | insert` through typer's CliRunner and, for `insert`, as a
separate process serving pcscd."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.chip.conftest import card_data
from tests.readers.conftest import _vpcd_slot, _wait_until_removed, card_in_vpcd
from yikatong.chip.emulator import Card
from yikatong.chip.host import LoadHost
from yikatong.chip.image import personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.store import DirectoryChipStore
from yikatong.chip.terminal import get_balance, load, purchase, select_purse
from yikatong.cli.main import app as ykt
from yikatong.crypto.keystore import DEV_SEED, InMemoryKeyStore
from yikatong.readers.errors import PcscUnavailable
from yikatong.readers.pcsc import PcscReader

runner = CliRunner()
WHEN = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
TERMINAL_ID = bytes.fromhex("320400000077")


@pytest.fixture
def dev_keystore() -> InMemoryKeyStore:
    """The keys `YKT_KEY_STORE=memory` gives the CLI's PSAM."""
    return InMemoryKeyStore(seed=DEV_SEED)


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> dict[str, str]:
    from yikatong.cli import context

    env = {
        "YKT_DATABASE_URL": f"sqlite:///{tmp_path / 'ykt.db'}",
        "YKT_CHIP_DIR": str(tmp_path / "chips"),
        "YKT_KEY_STORE": "memory",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    context.platform.cache_clear()
    yield env
    context.platform.cache_clear()


@pytest.fixture
def topped_up_card(cli_env, dev_keystore) -> str:
    """A card in the CLI's chip store holding ¥50.00 from one load."""
    card = Card(personalise(card_data(7), dev_keystore))
    reader = EmulatorReader(card)
    reader.connect()
    load(reader, LoadHost(dev_keystore), 5000, TERMINAL_ID, WHEN)
    DirectoryChipStore(cli_env["YKT_CHIP_DIR"]).save(card)
    return card.card_no


def test_read_an_emulated_card_prints_holder_purse_and_transactions(topped_up_card):
    national = runner.invoke(ykt, ["card", "read", "--card", topped_up_card], catch_exceptions=False)
    issuer = runner.invoke(ykt, ["card", "read", "--card", topped_up_card, "--issuer"])

    holder = card_data(7)
    assert national.exit_code == 0, national.output
    for shown in (holder.card_no, holder.ssn, holder.name, "50.00", "320400000077"):
        assert shown in national.output
    assert "1990-01-01" not in national.output  # birth date needs the issuer's key
    assert "无权读取" in national.output
    assert issuer.exit_code == 0 and "1990-01-01" in issuer.output


def test_read_refuses_an_unknown_card_and_two_sources(cli_env):
    unknown = runner.invoke(ykt, ["card", "read", "--card", "C99999999"])
    both = runner.invoke(ykt, ["card", "read", "--card", "C1", "--reader", "x"])

    assert unknown.exit_code == 1 and "chip_not_found" in unknown.output
    assert both.exit_code != 0


def test_list_readers_says_plainly_when_pcsc_is_missing(cli_env, monkeypatch):
    def unavailable():
        raise PcscUnavailable(reason_zh="pcscd 未运行", reason_en="pcscd is not answering")

    monkeypatch.setattr("yikatong.readers.pcsc.describe_readers", unavailable)
    listed = runner.invoke(ykt, ["card", "list-readers"])

    assert listed.exit_code == 0
    assert "pcscd is not answering" in listed.output and "emulator" in listed.output


@pytest.mark.pcsc
def test_list_readers_shows_the_inserted_card(pcsc_stack, cli_env, dev_keystore, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # Rich wraps the ATR cell at 80 columns
    card = Card(personalise(card_data(8), dev_keystore))
    with card_in_vpcd(card):
        listed = runner.invoke(ykt, ["card", "list-readers"])
    assert listed.exit_code == 0
    assert pcsc_stack in listed.output and card.image.atr.hex(" ").upper() in listed.output


@pytest.mark.pcsc
def test_ykt_card_insert_serves_the_stored_card_until_interrupted(
    pcsc_stack, topped_up_card, cli_env, dev_keystore
):
    command = [str(Path(sys.executable).with_name("ykt")), "card", "insert", topped_up_card]
    with _vpcd_slot():
        process = subprocess.Popen(
            command, env={**os.environ, **cli_env}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        try:
            reader = PcscReader(pcsc_stack)
            reader.wait_for_card(timeout=20)
            bought = purchase(reader, Psam(dev_keystore, terminal_id=TERMINAL_ID), 120, WHEN)
            reader.disconnect()
            read = runner.invoke(ykt, ["card", "read", "--reader", pcsc_stack])
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=20)
        _wait_until_removed()

    assert process.returncode == 0, output
    assert "is in reader" in output and "removed after" in output
    assert read.exit_code == 0, read.output
    assert "48.80" in read.output and card_data(7).name in read.output
    saved = EmulatorReader(DirectoryChipStore(cli_env["YKT_CHIP_DIR"]).load(topped_up_card))
    saved.connect()
    select_purse(saved)
    assert get_balance(saved) == bought.balance_after == 4880
