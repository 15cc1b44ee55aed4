"""Any sequence of settlements, cancellations and reversals over a few visits of one person
leaves the money consistent (Hypothesis, few examples: each step is a database transaction):
the person's year is the sum of the totals_delta of the settlements in force, the personal
account has lost exactly their acct_pay, the pool has paid exactly their fund share, and the
ledger balances."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.medical.conftest import insured
from tests.medical.test_visits import call, money, msgid, outpatient_visit
from yikatong.ledger import service as ledger
from yikatong.medical import rules, visits
from yikatong.medical.models import Settlement

pytestmark = pytest.mark.db

STEPS = st.lists(st.tuples(st.sampled_from(["settle", "cancel", "reverse"]), st.integers(0, 2)),
                 min_size=1, max_size=8)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_settle_cancel_and_reverse_in_any_order_keep_the_money_consistent(platform, reference, steps):
    _, person_id, card_no = insured(platform, credit=20_000)
    start = money(platform, person_id)
    open_visits = [outpatient_visit(platform, card_no) for _ in range(3)]
    settled: dict[int, tuple[str, str]] = {}  # visit index → (setl_id, msgid of the settle)
    for action, index in steps:
        visit = open_visits[index]
        if action == "settle" and index not in settled:
            settle_id = msgid()
            view = call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id,
                        cert_type="03", cert_no=card_no)
            settled[index] = (view.setl_id, settle_id)
        elif action == "cancel" and index in settled:
            call(platform, visits.cancel, msgid=msgid(), setl_id=settled.pop(index)[0],
                 mdtrt_id=visit.mdtrt_id)
        elif action == "reverse" and index in settled:
            outcome = call(platform, visits.reverse, msgid=msgid(), omsgid=settled.pop(index)[1],
                           oinfno="2207")
            assert outcome.outcome == "reversed"
        check(platform, person_id, start, {setl_id for setl_id, _ in settled.values()})


def check(platform, person_id: int, start: dict, in_force: set[str]) -> None:
    with platform.uow() as uow:
        rows = uow.session.execute(select(Settlement).where(Settlement.person_id == person_id)).scalars().all()
        assert {r.setl_id for r in rows if r.state == "settled"} == in_force
        live = [r for r in rows if r.state == "settled"]
        assert ledger.trial_balance(uow=uow).balanced
    now = money(platform, person_id)
    year = start["year"]
    for row in live:
        year = year + rules.YearTotals(**row.totals_delta)
    assert now["year"] == year
    assert now["account"] == start["account"] - sum(r.acct_pay for r in live)
    assert now["pool"] - start["pool"] == sum(r.fund_pay_sumamt for r in live)
