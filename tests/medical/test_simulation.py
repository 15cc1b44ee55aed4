"""The simulated medical day (medical/simulation.py): a small day through the institution
interface reconciles to the fen, interruptions included, and a corrupted row is caught."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from yikatong.medical import models
from yikatong.medical.simulation import reconcile, simulate_medical_day

pytestmark = pytest.mark.db

DAY = date(2026, 3, 2)


@pytest.fixture
def day(platform):
    """A small day with many interruptions (a third of the write messages)."""
    report, world = simulate_medical_day(platform, people=8, visits=24, day=DAY, seed=7, fault_rate=0.35)
    return report, world


def failing(checks) -> list[str]:
    return [check.name for check in checks if not check.ok]


def test_a_day_reconciles_to_the_fen(day):
    report, world = day
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    assert sum(report.visits.values()) >= 15, (dict(report.visits), dict(report.refused))
    assert report.fund_paid > 0 and report.account_paid > 0 and report.cash_paid > 0
    assert report.answers_lost + report.answers_lost_reversed + report.requests_lost >= 5
    assert report.medfee == report.fund_paid + report.account_paid + report.cash_paid + sum(
        entry.medfee_sumamt - entry.fund_pay_sumamt - entry.acct_pay - entry.psn_cash_pay
        for book in world.book.values() for entry in book.values())
    names = " ".join(check.name for check in report.checks)
    for what in ("fund", "personal account", "year totals", "institution's settlements", "3201",
                 "trial balance", "replays"):
        assert what in names


def test_a_corrupted_settlement_row_is_caught(platform, day):
    report, world = day
    with platform.uow() as uow:
        row = uow.session.execute(select(models.Settlement).where(models.Settlement.state == "settled",
                                                                  models.Settlement.acct_pay > 0)
                                  .limit(1)).scalar_one()
        row.acct_pay += 1  # one fen more from the account than the ledger moved
        uow.commit()
    broken = failing(reconcile(platform, world))
    assert any("personal account" in name for name in broken), broken
    assert any("institution" in name for name in broken), broken


def test_a_corrupted_year_total_is_caught(platform, day):
    _report, world = day
    with platform.uow() as uow:
        row = uow.session.execute(select(models.YearTotals).limit(1)).scalar_one()
        row.medfee_total -= 1
        uow.commit()
    assert failing(reconcile(platform, world)) == ["each person's year totals = Σ deltas / 年度累计 = 各结算增量之和"]
