"""Tables of the notices domain: the record of every text message, the development outbox,
and how far the notices consumer has read the platform's outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class SmsMessage(Base):
    """One text message the platform sent (or tried to): kept in every deployment.

    The phone is masked and one-time codes are blanked, so this record (and any list of it)
    never holds what would let someone else use the message.
    """

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(String(32), index=True)
    phone_masked: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(index=True)
    # What the notice is about, e.g. "card:C00000001:expiry": a job sends a reminder once.
    subject: Mapped[str | None] = mapped_column(String(80), index=True)
    text_zh: Mapped[str] = mapped_column(String(400))
    text_en: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | failed
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    carrier_ref: Mapped[str | None] = mapped_column(String(64))


class DevelopmentSmsDelivery(Base):
    """What the development outbox "delivered": the whole text to the whole number, so the
    demo and the tests can read a one-time code. Only `DevelopmentSmsOutbox` writes here, and
    a production deployment never registers it."""

    __tablename__ = "sms_development_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), index=True)
    text: Mapped[str] = mapped_column(String(1000))
    delivered_at: Mapped[datetime]


class NoticeEventCursor(Base):
    """How far the notices' catch-up job has read the platform's outbox."""

    __tablename__ = "notice_event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
