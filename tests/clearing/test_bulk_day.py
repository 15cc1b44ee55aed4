"""`ykt simulate day --bulk`: a small day made in bulk, cleared through the ordinary door and
reconciled to the fen; a wrong fare made in bulk is caught by the review; the command's
stage table and checks. Timings are printed by the command, never asserted (docs/scale.md
has the 100k-10M curve)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.clearing.conftest import DAY
from yikatong.clearing import bulk_day
from yikatong.clearing.bulk_day import simulate_bulk_day
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore

pytestmark = pytest.mark.db


def test_a_bulk_day_is_cleared_and_reconciles_to_the_fen(platform, tmp_path):
    platform.provide(KeyStore, InMemoryKeyStore(seed=b"bulk day"))
    # small chunks and review shares: the chunked paths run, not only one pass
    report = simulate_bulk_day(platform, taps=1_500, day=DAY, exchange_dir=tmp_path, chunk_taps=500,
                               review_shares=3)
    failed = [check for check in report.checks if not check.ok]
    assert not failed, failed
    assert len(report.checks) == 10
    assert report.taps == 1_500
    assert report.cards_own > 0 and report.cards_visiting > 0 and report.fare_situations > 0
    assert report.review.taps == report.taps and report.review.not_rated == 0
    assert report.settlement.total_count == report.taps
    assert report.settlement.total_amount + report.settlement.pending_amount == report.fares_charged
    assert report.records_stored == report.taps + report.top_ups and report.rejected == 0
    assert report.house_positions  # the visitors' fares went through the house
    assert set(report.meter.seconds) == set(report.meter.peak) and all(report.meter.peak.values())
    assert not list((tmp_path / "files").glob("*")), "every file and spool is removed once uploaded"


def test_a_fare_made_wrong_in_bulk_is_caught_by_the_review(platform, tmp_path, monkeypatch):
    platform.provide(KeyStore, InMemoryKeyStore(seed=b"bulk day"))
    priced = bulk_day._Fares.journey

    def one_fen_more_at_the_exit(self, kind, places, offsets):
        fares = priced(self, kind, places, offsets)
        return tuple(fare + (self.network.tap[place] == "exit") for fare, place in zip(fares, places, strict=True))

    monkeypatch.setattr(bulk_day._Fares, "journey", one_fen_more_at_the_exit)
    report = simulate_bulk_day(platform, taps=400, day=DAY, exchange_dir=tmp_path)
    failed = {check.name.split(" / ")[0] for check in report.checks if not check.ok}
    assert "every tap re-rated, no fare mismatch, no counter gap" in failed
    assert report.review.open_mismatches > 0
    assert "no open exception" in failed  # the mismatches are in the exceptions list
    assert "chip balances = shadow balances" not in failed  # what the card paid is what clears


def test_ykt_simulate_day_bulk_prints_stages_and_checks(tmp_path):
    from yikatong.cli.main import app

    result = CliRunner().invoke(app, ["simulate", "day", "--bulk", "--taps", "800", "--day", "2026-03-02",
                                      "--exchange-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "time and memory per stage" in result.output and "peak memory MB" in result.output
    assert "4 terminal uploads" in result.output and "6 day review" in result.output
    assert "every fen reconciles" in result.output and "✗" not in result.output


@pytest.mark.no_db
def test_a_file_rendered_a_column_at_a_time_is_the_record_by_record_one():
    from datetime import datetime

    from yikatong.clearing import fileformat
    from yikatong.clearing.fileformat import BatchRecord, FileKind
    from yikatong.core.clock import CST

    records = [
        BatchRecord(0, "30400000000000000001", "01013040FFFFFFFF", "304001000007", 12, 0x09, 120, 9880, 3,
                    "20260302073015", "0A1B2C3D", 1, 0x04, "3040", "CZBUS", "bus", "board", "B1", "", "changwu",
                    "social_security", "student"),
        BatchRecord(0, "30500000000000000002", "01013050FFFFFFFF", "304001000007", 13, 0x09, 200, 4800, 77,
                    "20260302235959", "FFFFFFFF", 1, 0x04, "3040", "CZBUS", "bus", "board", "B1", "", "changwu",
                    "city_card", "adult"),
    ]
    created = datetime(2026, 3, 2, 23, tzinfo=CST)
    expected = fileformat.render_records(FileKind.TERMINAL, "F-1", "304001000007", records, created=created,
                                         operator="CZBUS", terminal_id="304001000007")
    assert bulk_day.render(FileKind.TERMINAL, "F-1", "304001000007", fileformat.frame_of(records), created=created,
                           operator="CZBUS", terminal_id="304001000007") == expected.encode("utf-8")
