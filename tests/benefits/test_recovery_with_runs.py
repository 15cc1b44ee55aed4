"""Death and recovery with bnfcore's real runs (seam 3): pensions paid by period runs into the
card account, the card cancelled at death, the months after the death recovered exactly
through the bank, the payments marked recovered, and the next run holds the pension back."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.benefits.conftest import SI_OFFICE, payee, upload
from tests.benefits.pension_helpers import COUNTER, DebitingBank, at
from yikatong.benefits import certification, certification_jobs, recovery, runs
from yikatong.benefits.models import Payment
from yikatong.cards import service as cards
from yikatong.cards.protocols import BankGateway

pytestmark = pytest.mark.db

MONTHLY = 300_000


def test_runs_then_death_recover_exactly_the_months_after_it(platform, bank, clock):
    ssn, person_id, card_no = payee(platform)
    with platform.uow() as uow:
        certification.register_pensioner(uow=uow, actor=SI_OFFICE, person_id=person_id,
                                         since=date(2025, 6, 1))
    for month, day in (("2026-03", date(2026, 3, 13)), ("2026-04", date(2026, 4, 15)),
                       ("2026-05", date(2026, 5, 15))):
        clock.set(at(day))
        upload(platform, "pension", month, [(ssn, "王小明", MONTHLY, "")])
        runs.run(platform, actor=SI_OFFICE, programme_code="pension", period=month)
    with platform.uow() as uow:
        paid = {p.period: p.status for p in uow.session.execute(select(Payment)).scalars()}
    assert paid == {"2026-03": "posted", "2026-04": "posted", "2026-05": "posted"}

    clock.set(at(date(2026, 6, 3)))
    with platform.uow() as uow:
        cards.retire_deceased(uow=uow, actor=COUNTER, card_no=card_no, note="死亡证明",
                              died_on=date(2026, 3, 28))
        uow.commit()
    certification_jobs.deaths_from_outbox(platform)
    with platform.uow() as uow:
        owed = recovery.recoveries_of(uow=uow, person_id=person_id)
    assert [(r.period, r.amount_fen, r.status) for r in owed] == [
        ("2026-04", MONTHLY, "owed"), ("2026-05", MONTHLY, "owed")]

    debiting = DebitingBank(platform.get(BankGateway))
    platform.provide(BankGateway, debiting)
    with platform.uow() as uow:
        recovery.collect(uow=uow, actor=SI_OFFICE)
    with platform.uow() as uow:
        paid = {p.period: (p.status, p.pan) for p in uow.session.execute(select(Payment)).scalars()}
    assert {k: v[0] for k, v in paid.items()} == {
        "2026-03": "posted", "2026-04": "recovered", "2026-05": "recovered"}
    # debited from the account the pension went into, once per overpaid month
    assert sorted((r["pan"], r["amount_fen"]) for r in debiting.requests) == [
        (paid["2026-04"][1], MONTHLY), (paid["2026-05"][1], MONTHLY)]
    with platform.uow() as uow:
        assert recovery.collect(uow=uow, actor=SI_OFFICE) == []
        assert certification.pension_payable(uow, person_id, "2026-06") == "deceased"
