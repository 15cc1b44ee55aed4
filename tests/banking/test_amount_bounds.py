"""Huge amounts at the bank: refused with a 4xx and nothing stored, by the API schema and by the
service itself; a held credit that would take a balance past the ledger's bound fails on its
own at activation instead of failing the activation (it used to be a 500 on every try)."""

from __future__ import annotations

import pytest

from tests.banking.helpers import SYSTEM, at_bank, balance, produce, register_pan, teller
from tests.banking.test_api import register, staff  # noqa: F401  (the logins fixture)
from yikatong.banking import payments, rules, service
from yikatong.core.money import MAX_AMOUNT_FEN, MAX_BALANCE_FEN
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import BalanceLimitExceeded, InvalidAmount

pytestmark = pytest.mark.db
HUGE = [MAX_AMOUNT_FEN + 1, 2**63 - 1, 2**63, 2**64, 10**30]


def transactions(bank, card) -> list:
    with bank.uow() as uow:
        return payments.transactions(uow=uow, bank_code=card.bank_code, pan=card.pan)


def test_a_credit_of_2_63_is_refused_and_activation_still_works(bank_platform, bank, client, staff):  # noqa: F811
    icbc = staff["icbc"]
    card = produce(bank_platform, person_id=2)
    register(client, icbc, card)
    base = f"/api/v1/banks/ICBC/accounts/{card.pan}"
    for amount in HUGE:
        refused = client.post(f"{base}/credits", headers=icbc,
                              json={"request_id": f"p{amount}", "amount_fen": amount, "payer": "x"})
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_input", refused.text
    assert transactions(bank, card) == []
    fine = client.post(f"{base}/credits", headers=icbc,
                       json={"request_id": "pension", "amount_fen": MAX_AMOUNT_FEN, "payer": "x"})
    assert fine.status_code == 202
    activated = client.post(f"{base}/activation", headers=icbc,
                            json={"id_document_checked": True, "card_checked": True})
    assert activated.status_code == 200 and activated.json()["balance_fen"] == MAX_AMOUNT_FEN


@pytest.mark.parametrize("amount", HUGE)
def test_the_service_refuses_huge_amounts_without_the_schema(bank_platform, bank, amount):
    card = produce(bank_platform, person_id=3)
    register_pan(bank, card)
    with pytest.raises(InvalidAmount):
        at_bank(bank, payments.credit, actor=SYSTEM, bank_code="ICBC", pan=card.pan, amount_fen=amount,
                request_id="huge", payer="x")
    assert transactions(bank, card) == []


def test_a_held_credit_past_the_balance_bound_fails_alone_at_activation(bank_platform, bank):
    card = produce(bank_platform, person_id=4)
    register_pan(bank, card)
    with bank.uow() as uow:  # a balance at the bound, as if decades of credits had piled up
        payments.open_ledger_account(uow, payments.account_by_pan(uow, "ICBC", card.pan))
        ledger.open_account(uow=uow, code="tests:source", kind="asset")
        ledger.post(uow=uow, request_id="fill", kind="test",
                    legs=[("tests:source", MAX_BALANCE_FEN), (rules.customer_code("ICBC", card.pan), -MAX_BALANCE_FEN)])
        uow.commit()
    at_bank(bank, payments.credit, actor=SYSTEM, bank_code="ICBC", pan=card.pan, amount_fen=100,
            request_id="one-yuan-too-many", payer="x")
    view = at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
                   id_document_checked=True, card_checked=True)
    assert view.status == "active" and view.held_payments == 0
    [failed] = transactions(bank, card)
    assert (failed.status, failed.reason_code) == ("failed", BalanceLimitExceeded.code)
    assert balance(bank, "ICBC", card.pan) == MAX_BALANCE_FEN
