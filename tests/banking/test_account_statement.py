"""The gateway's optional account read: the reference bank answers with the balance, the
latest payments and the payments held for activation; a bank may decline it."""

from __future__ import annotations

import pytest

from tests.banking.helpers import SYSTEM, at_bank, holder, produce, register_pan, teller
from yikatong.banking import payments, service
from yikatong.cards import service as cards
from yikatong.cards.bank_gateway import SimpleBankGateway
from yikatong.cards.errors import CardNotFound
from yikatong.cards.protocols import BankGateway, BankReadNotOffered
from yikatong.core.errors import InvalidInput

pytestmark = pytest.mark.db


def credit(bank, card, request_id: str, amount: int):
    return at_bank(bank, payments.credit, actor=SYSTEM, bank_code=card.bank_code, pan=card.pan,
                   amount_fen=amount, request_id=request_id, payer="pension fund")


def statement(platform, card, actor, gateway=None, limit=10):
    with platform.uow() as uow:
        return cards.bank_statement(uow=uow, gateway=gateway or platform.get(BankGateway),
                                    actor=actor, card_no=card.card_no, limit=limit)


def test_held_payments_before_activation_then_the_balance_after(bank_platform, bank):
    card = produce(bank_platform, person_id=11)
    register_pan(bank, card)
    credit(bank, card, "pension-1", 180_000)
    before = statement(bank_platform, card, holder(11))
    assert before.balance_fen == 0
    assert [(p.kind, p.amount_fen, p.status, p.incoming) for p in before.held] == [
        ("credit", 180_000, "held", True)]
    at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            id_document_checked=True, card_checked=True)
    at_bank(bank, payments.online_payment, actor=SYSTEM, bank_code="ICBC", pan=card.pan,
            amount_fen=50_000, request_id="contribution-1", merchant="12333 contribution")
    after = statement(bank_platform, card, holder(11), limit=1)
    assert after.balance_fen == 130_000 and after.held == ()
    assert [(p.kind, p.status, p.incoming) for p in after.payments] == [
        ("online_payment", "posted", False)]  # the latest only, newest first


def test_a_holder_reads_only_their_own_account(bank_platform, bank):
    card = produce(bank_platform, person_id=12)
    with pytest.raises(CardNotFound):
        statement(bank_platform, card, holder(13))


def test_a_bank_that_does_not_offer_the_read_declines_it(bank_platform, bank):
    card = produce(bank_platform, person_id=14)
    with pytest.raises(BankReadNotOffered):
        statement(bank_platform, card, holder(14), gateway=SimpleBankGateway())


def test_the_bank_bounds_how_many_payments_it_is_asked_for(bank_platform, bank):
    card = produce(bank_platform, person_id=15)
    register_pan(bank, card)
    with bank.uow() as uow, pytest.raises(InvalidInput):
        service.gateway_account_statement(uow=uow, bank_code="ICBC", pan=card.pan, limit=500)
