"""Two mandate runs of one day at once (two `ykt worker` processes, or the worker and
`ykt bills run-mandates`), the bank refusing a bill in both.

The refusal's text is sent in a transaction of its own after the payment's has rolled back
(the bill's row lock gone with it): on PostgreSQL the second run read "not sent yet" while the
first had recorded the text and not committed, and texted the holder a second time."""

from __future__ import annotations

import pytest

from tests.bills.test_service import TODAY, a_bill_its_mandate_cannot_pay, texts_to
from tests.conftest import second_while_first_holds
from yikatong.bills import service

pytestmark = pytest.mark.db


def test_two_runs_refused_the_same_bill_at_once_text_the_holder_once(bank_platform, bank):
    person_id, _, bill = a_bill_its_mandate_cannot_pay(bank_platform, bank)

    def run():
        return service.run_mandates(uows=bank_platform.uow, day=TODAY).refused

    outcome = second_while_first_holds(bank_platform, "INSERT INTO sms_messages", run, run)
    assert outcome == {"first": {bill.id: "bill_insufficient_funds"},
                       "second": {bill.id: "bill_insufficient_funds"}}, outcome
    with bank_platform.uow() as uow:
        assert len(texts_to(uow, person_id, "bill_mandate_refused")) == 1
