"""The notices a holder expects, each texted to the phone on file and recorded: loss and
unblock, a replacement ready at the outlet, the 10-year reminder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.applications.conftest import ADMIN, OUTLET, pickup
from tests.binding.conftest import PHONE
from yikatong.applications import production
from yikatong.applications import service as applications
from yikatong.applications.protocols import CardFactory
from yikatong.cards import service as cards
from yikatong.core.actor import Actor, Channel, Role
from yikatong.notices import jobs
from yikatong.notices.models import SmsMessage
from yikatong.notices.protocols import SmsGateway

pytestmark = pytest.mark.db


def notices(platform, template: str | None = None) -> list[SmsMessage]:
    query = select(SmsMessage).order_by(SmsMessage.id)
    if template:
        query = query.where(SmsMessage.template == template)
    with platform.uow() as uow:
        return list(uow.session.execute(query).scalars())


def online(person_id: int) -> Actor:
    return Actor(user_id=f"holder{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id)


def test_loss_and_unblock_are_texted_once_each(platform, card_holder):
    _, handed = card_holder()
    with platform.uow() as uow:
        cards.report_loss(uow=uow, actor=online(handed.person_id), card_no=handed.card_no,
                          kind="temporary_loss")
        uow.commit()
    with platform.uow() as uow:
        cards.unblock(uow=uow, actor=online(handed.person_id), card_no=handed.card_no)
        uow.commit()
    [loss] = notices(platform, "card_loss")
    [lifted] = notices(platform, "card_unblocked")
    tail = handed.card_no[-4:]
    assert tail in loss.text_zh and "临时" in loss.text_zh and "temporary" in loss.text_en
    assert tail in lifted.text_zh and loss.status == lifted.status == "sent"
    assert loss.person_id == handed.person_id and loss.phone_masked == "139****5678"
    texts = [m.text for m in platform.get(SmsGateway).delivered(phone=PHONE)]
    assert len(texts) == 2 and "解除挂失" in texts[0]
    assert jobs.sync_from_outbox(platform) > 0  # the catch-up job reads them again …
    assert len(notices(platform)) == 2          # … and sends nothing twice


def test_a_replacement_ready_at_the_outlet_is_texted(platform, card_holder):
    applicant, handed = card_holder()
    with platform.uow() as uow:
        cards.report_loss(uow=uow, actor=online(handed.person_id), card_no=handed.card_no,
                          kind="formal_loss")
        uow.commit()
    with platform.uow() as uow:
        replacement = applications.submit_at_outlet(uow=uow, actor=OUTLET, applicant=applicant,
                                                    choice=pickup(kind="replacement"))
    with platform.uow() as uow:
        applications.approve(uow=uow, actor=OUTLET, application_id=replacement.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    assert notices(platform, "replacement_ready") == []  # produced is not ready yet
    with platform.uow() as uow:
        ready = applications.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=replacement.id)
    [notice] = notices(platform, "replacement_ready")
    assert ready.card_no[-4:] in notice.text_zh and "ID card" in notice.text_en
    assert len(notices(platform, "card_loss")) == 1


def test_a_first_card_ready_is_not_a_replacement_notice(platform, person):
    _, app = person()
    with platform.uow() as uow:
        applications.approve(uow=uow, actor=OUTLET, application_id=app.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:
        applications.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=app.id)
    assert notices(platform, "replacement_ready") == []


def test_no_phone_on_file_no_notice(platform, card_holder):
    _, handed = card_holder(phone=None)
    with platform.uow() as uow:
        cards.report_loss(uow=uow, actor=online(handed.person_id), card_no=handed.card_no,
                          kind="temporary_loss")
        uow.commit()
    assert notices(platform) == []


def test_the_ten_year_reminder_is_texted_once_per_card(platform, card_holder, clock):
    _, handed = card_holder()
    assert jobs.expiry_reminders(platform) == 0  # ten years ahead: nothing due
    with platform.uow() as uow:
        valid_until = cards.get_card(uow=uow, card_no=handed.card_no).financial_valid_until
    clock.set(datetime(valid_until.year, valid_until.month, 1, 2, 0, tzinfo=UTC))
    assert jobs.expiry_reminders(platform) == 1
    assert jobs.expiry_reminders(platform) == 0
    [reminder] = notices(platform, "expiry_reminder")
    assert valid_until.isoformat() in reminder.text_zh and reminder.subject == f"card:{handed.card_no}:expiry"


def test_a_payment_held_until_activation_is_texted(platform, card_holder):
    from tests.banking.helpers import register_pan
    from yikatong.banking import payments
    from yikatong.banking.link import BankRelay
    from yikatong.banking.runtime import ReferenceBank

    _, handed = card_holder()
    with platform.uow() as uow:
        card = cards.get_card(uow=uow, card_no=handed.card_no)
    bank = platform.get(ReferenceBank)
    register_pan(bank, card)
    with bank.uow() as uow:
        held = payments.online_payment(uow=uow, actor=Actor.system("bank-test"), bank_code=card.bank_code,
                                       pan=card.pan, amount_fen=12_345, request_id="hold-1",
                                       merchant="12333 contribution")
        uow.commit()
    assert held.status == "held"
    assert platform.get(BankRelay).run() >= 1  # the bank's event reaches the platform (worker job)
    [notice] = notices(platform, "payment_held")
    assert "123.45" in notice.text_zh and "工商银行" in notice.text_zh and card.card_no[-4:] in notice.text_en
    with platform.uow() as uow:  # the financial status stays as it was
        assert cards.get_card(uow=uow, card_no=card.card_no).financial_status == "inactive"
