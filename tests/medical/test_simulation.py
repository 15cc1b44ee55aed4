"""The simulated medical day (medical/simulation.py): a small day through the institution
interface reconciles to the fen, interruptions included, and a corrupted row is caught. One
day, checked three times (as played, with a settlement row corrupted, with a year-totals row
corrupted), to keep the suite's budget."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from yikatong.medical import models
from yikatong.medical.simulation import reconcile, simulate_medical_day

pytestmark = pytest.mark.db


def failing(checks) -> list[str]:
    return [check.name for check in checks if not check.ok]


def test_a_day_reconciles_to_the_fen_and_a_corrupted_row_is_caught(platform):
    # a third of the write messages interrupted, so every kind of interruption happens
    report, world = simulate_medical_day(platform, people=8, visits=24, day=date(2026, 3, 2), seed=7,
                                         fault_rate=0.35)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    assert sum(report.visits.values()) >= 15, (dict(report.visits), dict(report.refused))
    assert report.answers_lost and report.answers_lost_reversed and report.requests_lost
    assert report.fund_paid > 0 and report.account_paid > 0 and report.cash_paid > 0
    names = " ".join(check.name for check in report.checks)
    for what in ("fund", "personal account", "year totals", "institution's settlements", "3201",
                 "trial balance", "replays"):
        assert what in names

    with platform.uow() as uow:  # one fen more from an account than the ledger moved
        row = uow.session.execute(select(models.Settlement).where(models.Settlement.state == "settled",
                                                                  models.Settlement.acct_pay > 0)
                                  .order_by(models.Settlement.id).limit(1)).scalar_one()
        row.acct_pay += 1
        uow.commit()
    broken = failing(reconcile(platform, world))
    assert any("personal account" in name for name in broken), broken
    assert any("institution's settlements" in name for name in broken), broken
    assert not any("year totals" in name for name in broken), broken

    with platform.uow() as uow:  # put it back; a person's year one fen short instead
        row = uow.session.get(models.Settlement, row.id)
        row.acct_pay -= 1
        totals = uow.session.execute(select(models.YearTotals).order_by(models.YearTotals.id).limit(1)).scalar_one()
        totals.medfee_total -= 1
        uow.commit()
    assert failing(reconcile(platform, world)) == ["each person's year totals = Σ deltas / 年度累计 = 各结算增量之和"]


@pytest.mark.no_db
def test_ykt_simulate_medical_day_is_a_command_beside_the_transit_day():
    from typer.testing import CliRunner

    from yikatong.cli.main import app

    listed = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "medical-day" in listed.output and "day" in listed.output.replace("medical-day", "")
    helped = CliRunner().invoke(app, ["simulate", "medical-day", "--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0 and "--visits" in helped.output and "--faults" in helped.output
