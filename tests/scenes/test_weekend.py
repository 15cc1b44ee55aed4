"""`ykt simulate weekend` on a small weekend: venues (bank, wallet, passes, free seniors,
vouchers, refunds), the online and the offline gate (a card lost mid-Saturday refused once the
list is refreshed), library kiosks over SIP2, a 满减 campaign running out of budget, metro
rebates after clearing; every fen and every entry reconciled."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.scenes.weekend import METRO_CAMPAIGN, MJ, TOUR, default_saturday, simulate_weekend


@pytest.mark.db
def test_a_small_weekend_reconciles_every_fen_and_every_entry(platform):
    platform.provide(KeyStore, InMemoryKeyStore(seed=b"weekend-tests"))
    report = simulate_weekend(platform, people=8, saturday=date(2026, 3, 7), seed=7)

    failed = [(c.name, c.detail) for c in report.checks if not c.ok]
    assert not failed, "\n".join(f"{name}: {detail}" for name, detail in failed)
    assert len(report.checks) == 18 and report.ok
    # Every part took part.
    assert report.tickets_bank > 0 and report.passes > 0 and report.refunds > 0 and report.tickets_wallet > 0
    assert report.voucher_discount_fen > 0 and report.entries_online > 0 and report.entries_offline > 0
    # A wallet ticket given back unused, credited to the wallet and written at the next contact;
    # the passes (one from the wallet) split per venue, one pass refunded after its settlement.
    assert report.wallet_refunds == 1 and report.venue_refunds_written_fen == report.wallet_refunds_fen == 26_000
    assert report.passes_wallet == 1 and sum(report.pass_split.values()) == report.passes * 22_800
    assert report.pass_split_reversed_fen == 22_800 and report.pass_split_moved_fen > 0
    assert report.reuploaded_duplicates == report.entries_offline  # the second upload changed nothing
    assert report.list_refreshes >= 3 and report.ecard_entries > 0  # seniors show the e-card QR on Sunday
    assert set(report.lost_card_refusals) == {"Dinosaur Park online gate",
                                              "Tianmu Lake offline gate after its refresh",
                                              "library kiosk (SIP2 11)"}
    assert report.lost_card_refusals["Tianmu Lake offline gate after its refresh"] == "card_blocked"
    assert report.checkouts > report.checkins >= 0 and report.sip2_messages > report.checkouts
    # The 满减 ran out: later tills were refused, nothing was overspent.
    assert report.till_refusals["campaign_budget_exhausted"] > 0
    budgets = {code: (budget, spent) for code, budget, spent in report.campaigns}
    assert budgets[MJ][1] == budgets[MJ][0]
    assert 0 < budgets[METRO_CAMPAIGN][1] == report.rebates_fen == report.rebates_written_fen + report.rebates_waiting_fen
    assert budgets[TOUR][1] == report.vouchers_granted * 3_000
    assert {payee for code, payee, _, _ in report.statements if code == MJ} <= {"M-WKD-01", "M-WKD-02", "M-WKD-03"}


def test_the_command_refuses_a_day_that_is_not_a_saturday():
    from yikatong.cli.main import app

    result = CliRunner().invoke(app, ["simulate", "weekend", "--saturday", "2026-11-27"])
    assert result.exit_code == 2 and "Saturday" in result.output
    assert default_saturday(date(2026, 11, 27)) == date(2026, 11, 28)
    assert default_saturday(date(2026, 11, 28)) == date(2026, 11, 28)
