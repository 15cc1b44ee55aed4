"""Any sequence of pays (keys reused, double clicks, other bills' keys) and refunds keeps the
card account and the platform's record in step: the money taken is exactly the bills shown
paid, no bill is paid twice, a refunded bill's money is back."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bills.conftest import WATER, act, balance, holder, payer
from yikatong.bills import service
from yikatong.bills.models import BillPayment
from yikatong.core.errors import DomainError

pytestmark = pytest.mark.db

steps = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(0, 2), st.just(0)),
), min_size=1, max_size=12)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, amounts=st.lists(st.integers(1, 20_000), min_size=3, max_size=3))
def test_pays_and_refunds_in_any_order_keep_the_account_and_the_record_in_step(bank_platform, bank, steps, amounts):
    ssn, person_id, card = payer(bank_platform, bank, money=100_000)
    bills = [act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn, account_ref="W",
                 bill_no=f"W-{person_id}-{n}", period="2026-02", amount_fen=amount, due_date=date(2026, 3, 20))
             for n, amount in enumerate(amounts)]
    receipts: dict[int, str] = {}
    for kind, which, key in steps:
        bill = bills[which]
        try:
            if kind == "pay":
                receipt = act(bank_platform, service.pay_bill, actor=holder(person_id), bill_id=bill.id,
                              idempotency_key=f"{person_id}-k{key}", confirmed=True)
                assert receipts.setdefault(bill.id, receipt.receipt_no) == receipt.receipt_no
            elif bill.id in receipts:
                act(bank_platform, service.refund, actor=WATER, receipt_no=receipts[bill.id], reason="test")
        except DomainError as refused:
            assert refused.http_status in (404, 409)
    with bank_platform.uow() as uow:
        shown = {b.id: b.status for b in service.bills_of(uow=uow, actor=holder(person_id), person_id=person_id)}
        payments = uow.session.query(BillPayment).filter_by(person_id=person_id).all()
    taken = sum(b.amount_fen for b in bills if shown[b.id] == "paid")
    assert balance(bank, card) == 100_000 - taken
    assert len({p.bill_id for p in payments}) == len(payments)  # no bill paid twice
    assert {p.bill_id for p in payments if p.status == "paid"} == {i for i, s in shown.items() if s == "paid"}

