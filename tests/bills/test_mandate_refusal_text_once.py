"""Two mandate runs of one day at once (two `ykt worker` processes, or the worker and
`ykt bills run-mandates`), the bank refusing a bill in both.

The refusal's text is sent in a transaction of its own after the payment's has rolled back
(the bill's row lock gone with it): on PostgreSQL the second run read "not sent yet" while the
first had recorded the text and not committed, and texted the holder a second time."""

from __future__ import annotations

import pytest

from tests.bills.conftest import GAS, act, holder, payer
from tests.bills.test_service import TODAY, texts_to
from tests.conftest import second_while_first_holds
from yikatong.bills import service

pytestmark = pytest.mark.db


def test_two_runs_refused_the_same_bill_at_once_text_the_holder_once(bank_platform, bank):
    ssn, person_id, _ = payer(bank_platform, bank, money=1_000)
    act(bank_platform, service.create_mandate, actor=holder(person_id), person_id=person_id,
        payee_code="CZ-GAS")
    bill = act(bank_platform, service.post_utility_bill, actor=GAS, id_number=ssn, account_ref="G-1",
               bill_no="G-1", period="2026-02", amount_fen=5_000, due_date=TODAY)

    def run():
        return service.run_mandates(uows=bank_platform.uow, day=TODAY).refused

    outcome = second_while_first_holds(bank_platform, "INSERT INTO sms_messages", run, run)
    assert outcome == {"first": {bill.id: "bill_insufficient_funds"},
                       "second": {bill.id: "bill_insufficient_funds"}}, outcome
    with bank_platform.uow() as uow:
        assert len(texts_to(uow, person_id, "bill_mandate_refused")) == 1
