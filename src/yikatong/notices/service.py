"""Sending a notice: record it in the caller's transaction, hand it to the carrier after
that transaction commits.

A message is recorded as `queued` together with the change it reports (a one-time code, a
loss, a phone change); only once that commits is it handed to the `SmsGateway` and marked
`sent` or `failed`. So a change that rolls back never texted anyone, and a carrier that fails
never undoes a change. The delivered text lives only in memory until the hand-over: the
record keeps the text with one-time codes blanked and the phone masked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session

from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork
from yikatong.notices import rules
from yikatong.notices.models import SmsMessage
from yikatong.notices.protocols import SmsGateway

log = logging.getLogger(__name__)

_PENDING = "yikatong.notices.pending"
_HOOKED = "yikatong.notices.hooked"


@dataclass(frozen=True)
class MessageView:
    id: int
    template: str
    phone_masked: str
    person_id: int | None
    subject: str | None
    text_zh: str
    text_en: str
    status: str
    created_at: datetime
    sent_at: datetime | None


def send_sms(*, uow: UnitOfWork, template: str, phone: str, params: dict[str, object],
             person_id: int | None = None, subject: str | None = None) -> MessageView:
    """Record a notice for `phone` in this transaction; it is delivered after the commit."""
    rendered = rules.render(template, params)
    message = SmsMessage(template=template, phone_masked=rules.mask_phone(phone),
                         person_id=person_id, subject=subject, text_zh=rendered.zh,
                         text_en=rendered.en, status="queued", created_at=uow.now())
    uow.session.add(message)
    uow.session.flush()
    _deliver_after_commit(uow, message.id, phone, rendered.delivered)
    return _view(message)


def already_sent(*, uow: UnitOfWork, template: str, subject: str) -> bool:
    """Whether a notice of this template about this subject was recorded (any status)."""
    return uow.session.execute(select(SmsMessage.id).where(
        SmsMessage.template == template, SmsMessage.subject == subject).limit(1)).first() is not None


def list_messages(*, uow: UnitOfWork, person_id: int | None = None, template: str | None = None,
                  limit: int = 100) -> list[MessageView]:
    """The record of sent notices, newest first (masked phones, blanked codes)."""
    query = select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)
    if person_id is not None:
        query = query.where(SmsMessage.person_id == person_id)
    if template is not None:
        query = query.where(SmsMessage.template == template)
    return [_view(m) for m in uow.session.execute(query).scalars()]


def read_messages_of(*, uow: UnitOfWork, person_id: int, limit: int = 100) -> list[MessageView]:
    """`list_messages(person_id=…)` for a request that only reads (the holder's home page):
    the same views from one plain select, no ORM objects."""
    rows = uow.connection().execute(_MESSAGES_OF_PERSON, {"person_id": person_id,
                                                          "limit": limit})
    return [_view(row) for row in rows]


_MESSAGES_OF_PERSON = (select(SmsMessage.__table__)
                       .where(SmsMessage.__table__.c.person_id == bindparam("person_id"))
                       .order_by(SmsMessage.__table__.c.id.desc()).limit(bindparam("limit")))


def _view(message: SmsMessage) -> MessageView:
    return MessageView(id=message.id, template=message.template,
                       phone_masked=message.phone_masked, person_id=message.person_id,
                       subject=message.subject, text_zh=message.text_zh, text_en=message.text_en,
                       status=message.status, created_at=message.created_at,
                       sent_at=message.sent_at)


# --- delivery after the commit ------------------------------------------------------------


def _deliver_after_commit(uow: UnitOfWork, message_id: int, phone: str, text: str) -> None:
    session = uow.session
    session.info.setdefault(_PENDING, []).append((message_id, phone, text))
    if session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True
    gateway, clock = uow.get(SmsGateway), uow.clock

    @event.listens_for(session, "after_commit")
    def deliver(committed: Session) -> None:
        pending = committed.info.pop(_PENDING, [])
        if pending:
            _deliver(committed.get_bind(), gateway, clock, pending)

    @event.listens_for(session, "after_transaction_end")
    def forget(ended: Session, transaction) -> None:
        if transaction.parent is None:  # the outermost transaction, not a savepoint
            ended.info.pop(_PENDING, None)  # rolled back: those records are gone too


def _deliver(engine, gateway: SmsGateway, clock, pending: list[tuple[int, str, str]]) -> None:
    for message_id, phone, text in pending:
        try:
            carrier_ref = gateway.send(phone=phone, text=text, reference=f"sms-{message_id}")
            values = {"status": "sent", "sent_at": clock.now(), "carrier_ref": carrier_ref[:64]}
        except Exception as error:  # any carrier failure: the committed change stands
            # Neither the phone nor the text: a one-time code must never reach a log.
            log.warning("SMS message %s not delivered (%s)", message_id, type(error).__name__)
            values = {"status": "failed"}
        with engine.begin() as connection:
            connection.execute(update(SmsMessage).where(SmsMessage.id == message_id).values(**values))


# --- notices the holder expects, from other domains' events and the reminder job -----------

LOSS_KIND = {"card.temporary_loss_reported": ("临时", "temporary"),
             "card.formal_loss_reported": ("正式", "formal")}
# Applications whose card, once ready at the outlet, replaces one the holder had.
NEW_CARD_KINDS = ("replacement", "exchange")


def notify_for_event(*, uow: UnitOfWork, event) -> MessageView | None:
    """The holder's notice for one platform event (None when it calls for none, or the
    person has no phone on file)."""
    payload = event.payload
    person_id = payload.get("person_id")
    if person_id is None:
        return None
    card_no = payload.get("card_no")
    if event.type in LOSS_KIND:
        kind_zh, kind_en = LOSS_KIND[event.type]
        return notify_person(uow=uow, person_id=int(person_id), template="card_loss",
                             params={"card_tail": rules.card_tail(card_no), "kind_zh": kind_zh,
                                     "kind_en": kind_en})
    if event.type == "card.unblocked":
        return notify_person(uow=uow, person_id=int(person_id), template="card_unblocked",
                             params={"card_tail": rules.card_tail(card_no)})
    if event.type == "application.ready_for_pickup":
        return _notify_card_ready(uow, int(person_id), int(payload["application_id"]))
    if event.type == "card.financial_status_changed" and payload.get("bank_event") == "payment_held":
        return _notify_payment_held(uow, int(person_id), card_no, int(payload["held_fen"]))
    return None


def _notify_payment_held(uow: UnitOfWork, person_id: int, card_no: str, held_fen: int) -> MessageView | None:
    from yikatong.cards.service import get_card
    from yikatong.core.money import format_fen
    from yikatong.directory.service import get_bank

    bank = get_bank(uow=uow, bank_code=get_card(uow=uow, card_no=card_no).bank_code)
    return notify_person(uow=uow, person_id=person_id, template="payment_held",
                         params={"card_tail": rules.card_tail(card_no), "amount": format_fen(held_fen),
                                 "bank_zh": bank.short_name_zh, "bank_en": bank.name_en})


def _notify_card_ready(uow: UnitOfWork, person_id: int, application_id: int) -> MessageView | None:
    from yikatong.applications.service import get_application
    from yikatong.core.actor import Actor
    from yikatong.directory.service import get_outlet

    app = get_application(uow=uow, actor=Actor.system("notices"), application_id=application_id)
    if app.kind not in NEW_CARD_KINDS or not app.pickup_outlet_code:
        return None
    outlet = get_outlet(uow=uow, outlet_code=app.pickup_outlet_code).name
    return notify_person(uow=uow, person_id=person_id, template="replacement_ready",
                         params={"card_tail": rules.card_tail(app.card_no), "outlet": outlet})


def notify_person(*, uow: UnitOfWork, person_id: int, template: str, params: dict[str, object],
                  subject: str | None = None) -> MessageView | None:
    """A notice to the phone on the person's record (None if there is none, or no record: a
    card registered without a person, as partner test data has)."""
    sent = notify_people(uow=uow, template=template, notices=[(person_id, params, subject)])
    return sent[0] if sent else None


def notify_people(*, uow: UnitOfWork, template: str,
                  notices: list[tuple[int, dict[str, object], str | None]]) -> list[MessageView]:
    """Notices to many (person_id, params, subject) at once: the phones read in one narrow
    select (not the whole record with its photo); returns the messages sent."""
    from sqlalchemy import select

    from yikatong.people.models import Person

    phones: dict[int, str | None] = {}
    ids = sorted({person_id for person_id, _, _ in notices})
    for start in range(0, len(ids), 5000):
        phones.update(uow.session.execute(select(Person.id, Person.phone).where(
            Person.id.in_(ids[start:start + 5000]))).all())
    sent = []
    for person_id, params, subject in notices:
        phone = phones.get(person_id)
        if phone:
            sent.append(send_sms(uow=uow, template=template, phone=phone, params=params,
                                 person_id=person_id, subject=subject))
    return sent


def send_expiry_reminders(*, uow: UnitOfWork) -> int:
    """The 10-year reminder (二.2): each card whose financial function ends within the
    reminder window is texted once; returns how many were sent now. Call it first in the
    transaction: a round waits for another running one (nothing unique on a notice's template
    and subject, so two rounds at once each read "not sent" and texted the holder twice)."""
    from yikatong.cards.service import expiry_reminders

    serialised(uow.session, "notices.expiry_reminders")
    sent = 0
    for reminder in expiry_reminders(uow=uow):
        subject = f"card:{reminder.card_no}:expiry"
        if already_sent(uow=uow, template="expiry_reminder", subject=subject):
            continue
        params = {"card_tail": rules.card_tail(reminder.card_no),
                  "valid_until": reminder.financial_valid_until.isoformat()}
        if notify_person(uow=uow, person_id=reminder.person_id, template="expiry_reminder",
                         params=params, subject=subject) is not None:
            sent += 1
    return sent
