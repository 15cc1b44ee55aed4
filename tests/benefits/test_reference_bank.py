"""A period's run end to end through the in-repo reference bank (banking/disbursement.py):
the files in the drop, the bank's results, the holder's bank statement, the retry after a
frozen account, and nobody paid twice on a re-run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.banking.helpers import at_bank, teller
from tests.benefits.conftest import SI_OFFICE, payee, upload
from tests.cards.conftest import hand_over, produce
from yikatong.banking import service as bank_service
from yikatong.banking.runtime import ReferenceBank
from yikatong.benefits import runs
from yikatong.benefits.models import Payment
from yikatong.cards.protocols import BankGateway
from yikatong.cards.service import get_card
from yikatong.notices.models import SmsMessage

pytestmark = pytest.mark.db


def outcome(platform, period="2026-12"):
    with platform.uow() as uow:
        return {p.id_number: (p.status, p.reason_code, p.attempt, p.card_no)
                for p in uow.session.execute(select(Payment).where(Payment.period == period)).scalars()}


def get_held_card(platform, ssn):
    return outcome(platform)[ssn][3]


def statement_credits(platform, card_no):
    with platform.uow() as uow:
        card = get_card(uow=uow, card_no=card_no)
    statement = platform.get(BankGateway).account_statement(bank_code=card.bank_code, pan=card.pan, limit=20)
    return statement


def held_texts(platform):
    """The payment_held texts sent: (person id, English text)."""
    with platform.uow() as uow:
        return uow.session.execute(select(SmsMessage.person_id, SmsMessage.text_en).where(
            SmsMessage.template == "payment_held").order_by(SmsMessage.id)).all()


def test_a_run_through_the_reference_bank(bank_files, platform):
    paid_ssn, _, paid_card = payee(platform)
    held_ssn, held_person, _ = payee(platform, activate=False)
    frozen_ssn, frozen_person, frozen_card = payee(platform)
    renamed_ssn, _, _ = payee(platform, name="赵六")
    bank = platform.get(ReferenceBank)
    with platform.uow() as uow:
        frozen_pan = get_card(uow=uow, card_no=frozen_card).pan
    at_bank(bank, bank_service.freeze_account, actor=teller(), bank_code="ICBC", pan=frozen_pan,
            reason="court order")
    upload(platform, "unemployment", "2026-12", [(paid_ssn, "王小明", 224100, ""),
                                                 (held_ssn, "王小明", 224100, ""),
                                                 (frozen_ssn, "王小明", 224100, ""),
                                                 (renamed_ssn, "赵陆", 224100, "")])
    view = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    got = outcome(platform)
    assert got[paid_ssn][:2] == ("posted", None)
    assert got[held_ssn][:2] == ("held", None)
    assert got[frozen_ssn][:2] == ("failed", "account_frozen")
    assert got[renamed_ssn][:2] == ("failed", "name_mismatch")
    assert view.state == "reconciled" and view.reconciliation["balanced"]
    assert (bank_files / "ICBC" / "to_bank" / "unemployment-2026-12-ICBC-0001.csv").exists()
    assert (bank_files / "ICBC" / "from_bank" / "unemployment-2026-12-ICBC-0001.result.csv").exists()
    statement = statement_credits(platform, paid_card)
    assert statement.balance_fen == 224100  # the holder's statement shows the pension credited
    held_statement = statement_credits(platform, get_held_card(platform, held_ssn))
    assert [p.amount_fen for p in held_statement.held] == [224100]
    [(texted, text_en)] = held_texts(platform)  # the holder texted once, from the result file
    assert texted == held_person and "CNY 2241.00" in text_en

    # running again pays nobody twice; the frozen account's new card takes the retry
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    assert outcome(platform) == got
    new_card = produce(platform, person_id=frozen_person, kind="exchange", predecessor=frozen_card).card_no
    hand_over(platform, new_card)
    assert runs.retry_failed(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12") == 2
    again = runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    after = outcome(platform)
    assert after[frozen_ssn] == ("held", None, 2, new_card)
    assert [p for p, _ in held_texts(platform)] == [held_person, frozen_person]  # each once
    assert after[renamed_ssn][:3] == ("failed", "name_mismatch", 2)
    assert again.reconciliation["balanced"] and again.state == "reconciled"
