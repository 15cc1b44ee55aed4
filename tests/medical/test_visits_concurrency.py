"""Settlements at the same moment (PostgreSQL, where sessions truly interleave): a retry racing
its first try lands once, and two settlements of one person never spend the same balance or
the same year twice."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from tests.conftest import ONLY_ON_POSTGRES
from tests.medical.conftest import OTHER_HOSPITAL, insured
from tests.medical.test_visits import call, counts, money, msgid, outpatient_visit
from yikatong.ledger import service as ledger
from yikatong.medical import rules, visits
from yikatong.medical.models import Settlement

pytestmark = [pytest.mark.db, ONLY_ON_POSTGRES]


def at_once(*attempts):
    """Run the attempts in threads started together; each one's result or exception."""
    results: list = [None] * len(attempts)
    start = threading.Barrier(len(attempts))

    def run(index, attempt):
        start.wait()
        try:
            results[index] = attempt()
        except Exception as error:  # the assertions report it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_a_retry_racing_its_first_try_settles_once(platform, reference):
    _, person_id, card_no = insured(platform)
    visit = outpatient_visit(platform, card_no)
    settle_id = msgid()

    def attempt():
        return call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id,
                    cert_type="03", cert_no=card_no)

    first, second = at_once(attempt, attempt)
    assert not isinstance(first, Exception) and first == second
    assert counts(platform)["Settlement"] == 1


def test_two_settlements_of_one_person_at_once_add_up(platform, reference):
    _, person_id, card_no = insured(platform, credit=3_000)  # less than both visits would take
    here = outpatient_visit(platform, card_no)
    there = outpatient_visit(platform, card_no, code=OTHER_HOSPITAL)
    results = at_once(
        lambda: call(platform, visits.settle, msgid=msgid(), mdtrt_id=here.mdtrt_id,
                     cert_type="03", cert_no=card_no),
        lambda: call(platform, visits.settle, code=OTHER_HOSPITAL, msgid=msgid(OTHER_HOSPITAL),
                     mdtrt_id=there.mdtrt_id, cert_type="03", cert_no=card_no))
    assert not any(isinstance(r, Exception) for r in results), results
    after = money(platform, person_id)
    assert sum(r.setlinfo["acct_pay"] for r in results) == 3_000 - after["account"]
    assert after["account"] >= 0
    with platform.uow() as uow:
        deltas = uow.session.execute(select(Settlement.totals_delta)).scalars().all()
        assert ledger.trial_balance(uow=uow).balanced
    assert len(deltas) == 2
    assert after["year"] == rules.YearTotals(**deltas[0]) + rules.YearTotals(**deltas[1])
