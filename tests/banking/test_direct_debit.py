"""Money out of the card's account on the holder's authorisation, and back (seam 2 of issue
14): `BankGateway.pay_from_account` / `refund_to_account` into the reference bank."""

from __future__ import annotations

import pytest

from tests.banking.helpers import SYSTEM, at_bank, balance, produce, register_pan, teller
from yikatong.banking import payments, rules, service
from yikatong.banking.models import BankTransaction
from yikatong.cards import protocols as seam
from yikatong.cards.protocols import BankGateway, BankRefused
from yikatong.ledger import service as ledger

pytestmark = pytest.mark.db


def ready(platform, bank, person_id: int, *, activate: bool = True, money: int = 100_000):
    card = produce(platform, person_id=person_id)
    register_pan(bank, card)
    if activate:
        at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
                id_document_checked=True, card_checked=True)
        if money:
            at_bank(bank, payments.deposit, actor=teller(), bank_code="ICBC", pan=card.pan,
                    amount_fen=money, request_id=f"cash-{card.card_no}")
    return card


def pay(platform, card, request_id: str, amount: int, payee: str = "CZ-WATER",
        authorisation: str = "MANDATE-1"):
    return platform.get(BankGateway).pay_from_account(
        bank_code="ICBC", pan=card.pan, amount_fen=amount, request_id=request_id,
        payee_code=payee, authorisation=authorisation)


def refund(platform, card, request_id: str, amount: int, original: str):
    return platform.get(BankGateway).refund_to_account(
        bank_code="ICBC", pan=card.pan, amount_fen=amount, request_id=request_id,
        original_request_id=original)


def settlement(bank, party: str) -> int:
    with bank.uow() as uow:
        return ledger.balance(uow=uow, code=rules.settlement_code("ICBC", party))


def test_a_payment_posts_into_the_payees_settlement_book_with_the_authorisation(bank_platform, bank):
    card = ready(bank_platform, bank, 201)
    result = pay(bank_platform, card, "water-2026-11-201", 3_450, authorisation="MANDATE-77")
    assert result.posted and result.status == "posted" and result.reason_code is None
    assert result.amount_fen == 3_450 and result.balance_fen == 96_550
    assert result.bank_reference and result.at is not None
    assert balance(bank, "ICBC", card.pan) == 96_550
    assert settlement(bank, "CZ-WATER") == 3_450
    with bank.uow() as uow:
        tx = uow.session.query(BankTransaction).filter_by(request_id="water-2026-11-201").one()
        assert (tx.kind, tx.status, tx.authorisation, tx.counterparty) == (
            "direct_debit", "posted", "MANDATE-77", "CZ-WATER")
        assert ledger.trial_balance(uow=uow).balanced


def test_the_same_request_again_answers_the_first_result_and_pays_once(bank_platform, bank):
    card = ready(bank_platform, bank, 202)
    first = pay(bank_platform, card, "exam-202", 10_000)
    again = pay(bank_platform, card, "exam-202", 10_000)
    assert again == first
    assert balance(bank, "ICBC", card.pan) == 90_000
    with pytest.raises(BankRefused):  # the same id with another amount
        pay(bank_platform, card, "exam-202", 9_000)
    with pytest.raises(BankRefused):  # … or another consent
        pay(bank_platform, card, "exam-202", 10_000, authorisation="OTHER")


@pytest.mark.parametrize("case, code", [
    ("not_activated", seam.PAYMENT_NOT_ACTIVATED),
    ("insufficient", seam.PAYMENT_INSUFFICIENT_FUNDS),
    ("temporary_loss", seam.PAYMENT_ACCOUNT_LOST),
    ("formal_loss", seam.PAYMENT_ACCOUNT_LOST),
    ("frozen", seam.PAYMENT_ACCOUNT_FROZEN),
    ("closed", seam.PAYMENT_ACCOUNT_CLOSED),
])
def test_refusals_carry_their_code_change_nothing_and_keep_their_answer(bank_platform, bank,
                                                                        case, code):
    card = ready(bank_platform, bank, 210, activate=case != "not_activated",
                 money=0 if case in ("insufficient", "closed") else 50_000)
    if case in ("temporary_loss", "formal_loss"):
        at_bank(bank, service.report_loss_at_branch, actor=teller(), bank_code="ICBC",
                pan=card.pan, kind=case)
    elif case == "frozen":
        at_bank(bank, service.freeze_account, actor=teller(), bank_code="ICBC", pan=card.pan,
                reason="court order 2026-001")
    elif case == "closed":
        with bank.uow() as uow:
            account = payments.account_by_pan(uow, "ICBC", card.pan)
            account.status = str(rules.AccountStatus.CLOSED)
            uow.commit()
    before = balance(bank, "ICBC", card.pan)
    result = pay(bank_platform, card, f"bill-{case}", 20_000)
    assert (result.status, result.reason_code) == ("refused", code)
    assert not result.posted and result.reason_zh and result.reason_en
    assert balance(bank, "ICBC", card.pan) == before
    assert pay(bank_platform, card, f"bill-{case}", 20_000) == result  # final for its id
    with bank.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced


def test_an_unknown_account_is_refused(bank_platform, bank):
    card = ready(bank_platform, bank, 211)
    result = bank_platform.get(BankGateway).pay_from_account(
        bank_code="ABC", pan=card.pan, amount_fen=100, request_id="x-1", payee_code="CZ-GAS",
        authorisation="A")
    assert (result.status, result.reason_code) == ("refused", seam.PAYMENT_UNKNOWN_ACCOUNT)


def test_bad_input_is_refused_without_a_change(bank_platform, bank):
    card = ready(bank_platform, bank, 212)
    for amount in (0, -5, 1.5):
        with pytest.raises(BankRefused):
            pay(bank_platform, card, f"bad-{amount}", amount)
    with pytest.raises(BankRefused):
        pay(bank_platform, card, "no-consent", 100, authorisation="")
    assert balance(bank, "ICBC", card.pan) == 100_000


def test_a_refund_goes_back_in_parts_up_to_the_original(bank_platform, bank):
    card = ready(bank_platform, bank, 220)
    pay(bank_platform, card, "gas-220", 30_000, payee="CZ-GAS")
    first = refund(bank_platform, card, "gas-220-r1", 10_000, "gas-220")
    assert first.posted and first.balance_fen == 80_000
    assert refund(bank_platform, card, "gas-220-r1", 10_000, "gas-220") == first
    too_much = refund(bank_platform, card, "gas-220-r2", 20_001, "gas-220")
    assert (too_much.status, too_much.reason_code) == ("refused", seam.PAYMENT_NOT_REFUNDABLE)
    rest = refund(bank_platform, card, "gas-220-r3", 20_000, "gas-220")
    assert rest.posted and balance(bank, "ICBC", card.pan) == 100_000
    assert settlement(bank, "CZ-GAS") == 0
    with bank.uow() as uow:
        tx = uow.session.query(BankTransaction).filter_by(request_id="gas-220-r3").one()
        assert (tx.kind, tx.original_request_id, tx.counterparty) == ("refund", "gas-220", "CZ-GAS")


def test_a_refund_needs_a_posted_payment_of_this_account(bank_platform, bank):
    card = ready(bank_platform, bank, 221)
    other = ready(bank_platform, bank, 222)
    pay(bank_platform, other, "power-222", 5_000, payee="CZ-POWER")
    refused = pay(bank_platform, card, "power-221", 500_000, payee="CZ-POWER")
    assert refused.reason_code == seam.PAYMENT_INSUFFICIENT_FUNDS
    for original in ("power-222", "power-221", "nothing"):
        answer = refund(bank_platform, card, f"r-{original}", 100, original)
        assert answer.reason_code == seam.PAYMENT_NOT_REFUNDABLE


def test_a_refund_reaches_a_lost_card_and_the_statement_shows_both(bank_platform, bank):
    card = ready(bank_platform, bank, 223)
    pay(bank_platform, card, "fee-223", 8_000, payee="CZ-SI")
    at_bank(bank, service.report_loss_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            kind="formal_loss")
    assert refund(bank_platform, card, "fee-223-r", 8_000, "fee-223").posted
    statement = bank_platform.get(BankGateway).account_statement(bank_code="ICBC", pan=card.pan,
                                                                 limit=5)
    assert [(p.kind, p.incoming, p.status) for p in statement.payments[:2]] == [
        ("refund", True, "posted"), ("direct_debit", False, "posted")]


def test_the_old_card_of_a_replacement_cannot_pay(bank_platform, bank):
    card = ready(bank_platform, bank, 224)
    with bank.uow() as uow:
        account = payments.account_by_pan(uow, "ICBC", card.pan)
        account.retired_reason, account.successor_card_no = rules.REPLACED, "B99999999"
        uow.commit()
    assert pay(bank_platform, card, "old-224", 100).reason_code == seam.PAYMENT_CARD_REPLACED


def test_a_frozen_account_takes_no_credit_until_unfrozen(bank_platform, bank):
    card = ready(bank_platform, bank, 225)
    at_bank(bank, service.freeze_account, actor=teller(), bank_code="ICBC", pan=card.pan,
            reason="court order")
    with pytest.raises(service.DomainError):
        at_bank(bank, payments.credit, actor=SYSTEM, bank_code="ICBC", pan=card.pan,
                amount_fen=100, request_id="c-225", payer="CZ-SI")
    at_bank(bank, service.unfreeze_account, actor=teller(), bank_code="ICBC", pan=card.pan)
    assert pay(bank_platform, card, "after-225", 100).posted
