"""A payer's credit to the card's account, not tied to an earlier debit (a campaign sponsor's
transit rebate): `BankGateway.credit_to_account` into the reference bank, in process."""

from __future__ import annotations

import pytest

from tests.banking.helpers import at_bank, balance, produce, register_pan, teller
from tests.banking.test_direct_debit import ready, settlement
from yikatong.banking import payments, rules, service
from yikatong.banking.models import BankTransaction
from yikatong.cards import protocols as seam
from yikatong.cards.protocols import BankGateway, BankRefused
from yikatong.ledger import service as ledger

pytestmark = pytest.mark.db


def credit(platform, card, request_id: str, amount: int, payer: str = "CZ-HRSS",
           reference: str = "rebate METRO50 2026-03"):
    return platform.get(BankGateway).credit_to_account(
        bank_code="ICBC", pan=card.pan, amount_fen=amount, request_id=request_id,
        payer_code=payer, reference=reference)


def test_a_credit_posts_from_the_payers_book_and_shows_on_the_statement(bank_platform, bank):
    card = ready(bank_platform, bank, 301, money=1_000)
    result = credit(bank_platform, card, "rebate-301", 250)
    assert (result.status, result.reason_code, result.amount_fen) == ("posted", None, 250)
    assert result.posted and result.balance_fen == 1_250 and result.bank_reference
    assert balance(bank, "ICBC", card.pan) == 1_250
    assert settlement(bank, "CZ-HRSS") == -250  # the payer's settlement book paid it
    with bank.uow() as uow:
        tx = uow.session.query(BankTransaction).filter_by(request_id="rebate-301").one()
        assert (tx.kind, tx.status, tx.counterparty, tx.channel, tx.authorisation) == (
            "credit", "posted", "CZ-HRSS", payments.PAYER_CREDIT_CHANNEL, "rebate METRO50 2026-03")
        assert ledger.trial_balance(uow=uow).balanced
    statement = bank_platform.get(BankGateway).account_statement(bank_code="ICBC", pan=card.pan, limit=5)
    latest = statement.payments[0]
    assert (latest.kind, latest.amount_fen, latest.incoming, latest.status, latest.counterparty) == (
        "credit", 250, True, "posted", "CZ-HRSS")


def test_the_same_reference_again_answers_the_first_result_and_credits_once(bank_platform, bank):
    card = ready(bank_platform, bank, 302, money=0)
    first = credit(bank_platform, card, "rebate-302", 300)
    assert credit(bank_platform, card, "rebate-302", 300) == first
    assert balance(bank, "ICBC", card.pan) == 300
    for other in ({"amount": 301}, {"payer": "ICBC-CZ"}, {"reference": "another"}):
        with pytest.raises(BankRefused):
            credit(bank_platform, card, "rebate-302", other.get("amount", 300),
                   payer=other.get("payer", "CZ-HRSS"), reference=other.get("reference", "rebate METRO50 2026-03"))
    assert balance(bank, "ICBC", card.pan) == 300


@pytest.mark.parametrize("case, code", [
    ("frozen", seam.PAYMENT_ACCOUNT_FROZEN),
    ("closed", seam.PAYMENT_ACCOUNT_CLOSED),
    ("unknown", seam.PAYMENT_UNKNOWN_ACCOUNT),
])
def test_refusals_are_answers_that_keep_their_result(bank_platform, bank, case, code):
    card = ready(bank_platform, bank, 303, money=0)
    if case == "frozen":
        at_bank(bank, service.freeze_account, actor=teller(), bank_code="ICBC", pan=card.pan,
                reason="court order 2026-7")
    elif case == "closed":
        with bank.uow() as uow:
            payments.account_by_pan(uow, "ICBC", card.pan).status = str(rules.AccountStatus.CLOSED)
            uow.commit()
    gateway = bank_platform.get(BankGateway)
    ask = dict(bank_code="ABC" if case == "unknown" else "ICBC", pan=card.pan, amount_fen=100,
               request_id=f"rebate-{case}", payer_code="CZ-HRSS", reference="r")
    result = gateway.credit_to_account(**ask)
    assert (result.status, result.reason_code) == ("refused", code)
    assert result.reason_zh and result.reason_en and not result.posted
    assert gateway.credit_to_account(**ask) == result
    assert balance(bank, "ICBC", card.pan) == 0
    with bank.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced


def test_a_lost_card_takes_it_and_an_account_not_activated_holds_it_until_activation(bank_platform, bank):
    lost = ready(bank_platform, bank, 304, money=0)
    at_bank(bank, service.report_loss_at_branch, actor=teller(), bank_code="ICBC", pan=lost.pan,
            kind="formal_loss")
    assert credit(bank_platform, lost, "rebate-304", 120).posted
    waiting = produce(bank_platform, person_id=305)
    register_pan(bank, waiting)
    held = credit(bank_platform, waiting, "rebate-305", 80)
    assert (held.status, held.posted) == ("held", False)
    at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=waiting.pan,
            id_document_checked=True, card_checked=True)
    assert balance(bank, "ICBC", waiting.pan) == 80
    assert settlement(bank, "CZ-HRSS") == -200


def test_bad_input_is_refused_and_records_nothing(bank_platform, bank):
    card = ready(bank_platform, bank, 306, money=0)
    for amount, payer, reference in ((0, "CZ-HRSS", "r"), (-1, "CZ-HRSS", "r"), (1.5, "CZ-HRSS", "r"),
                                     (100, "", "r"), (100, "CZ-HRSS", "")):
        with pytest.raises(BankRefused):
            credit(bank_platform, card, f"bad-{amount}-{payer}-{reference}", amount, payer=payer,
                   reference=reference)
    with bank.uow() as uow:
        assert uow.session.query(BankTransaction).filter(BankTransaction.request_id.like("bad-%")).count() == 0
