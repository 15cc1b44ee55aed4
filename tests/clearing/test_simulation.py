"""`ykt simulate day`: a small day end to end, every fen reconciled, and the same through the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.clearing.conftest import DAY
from yikatong.clearing import shadow_balances
from yikatong.clearing.simulation import simulate_day
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore

pytestmark = pytest.mark.db


def test_a_simulated_day_reconciles_to_the_fen(platform, tmp_path):
    platform.provide(KeyStore, InMemoryKeyStore(seed=b"simulated day"))
    report = simulate_day(platform, cards=20, taps=200, day=DAY, exchange_dir=tmp_path / "national")
    failed = [check for check in report.checks if not check.ok]
    assert not failed, failed
    assert report.top_up_path == "transit"  # the transit top-up service has landed
    assert report.cards_visiting >= 1 and report.taps_played == 200
    assert report.settlement.total_count == report.taps_accepted  # one cleared record per accepted tap
    assert report.settlement.total_amount == report.fares_charged
    assert {f.kind for f in report.files} >= {"TERMINAL", "TOP_UPS", "NATIONAL_IN", "NATIONAL_RESULT"}
    assert "3040" in {payer for payer, _payee in report.house_positions}  # our cards rode elsewhere
    shadow = next(c for c in report.checks if c.name.startswith("chip balances = shadow balances"))
    assert shadow.ok and f"{report.cards_own} of {report.cards_own}" in shadow.detail
    with platform.uow() as uow:
        assert shadow_balances.balance_disagreements(uow=uow) == []
    assert list((tmp_path / "national").glob("*.txt"))  # the files really crossed


def test_a_simulated_day_with_direct_loads_reconciles_too(platform, tmp_path):
    platform.provide(KeyStore, InMemoryKeyStore(seed=b"simulated day"))
    report = simulate_day(platform, cards=8, taps=60, day=DAY, top_up_path="direct", seed=7,
                          exchange_dir=tmp_path / "national")
    assert report.top_up_path == "direct" and report.ok, [c for c in report.checks if not c.ok]


def test_ykt_simulate_day_prints_the_summary_and_exits_zero():
    from yikatong.cli.main import app

    result = CliRunner().invoke(app, ["simulate", "day", "--cards", "6", "--taps", "40", "--day", "2026-03-02"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "every fen reconciles" in result.output and "✗" not in result.output
    assert "transit top-up service" in result.output
