from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base
from yikatong.db.partitioning import attach_events
from yikatong.events.codec import WirePayload


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports.

    `seq` gives the publication order; `event_id` lets consumers apply an event once.
    """

    __tablename__ = "outbox_events"

    seq: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    partner: Mapped[str | None] = mapped_column(String(16), index=True)  # e.g. a bank code
    # Stored in the wire's form, so the dispatcher sends it without decoding (events.codec).
    payload: Mapped[dict] = mapped_column(WirePayload)
    occurred_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)


class InboxRecord(Base):
    """An event a consumer has applied: written in the same transaction as the effect, so a
    redelivered event is recognised and skipped (see events.inbox)."""

    __tablename__ = "event_inbox"
    __table_args__ = (UniqueConstraint("consumer", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consumer: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(36))
    processed_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """Where and how a partner that speaks HTTP receives its events (see events.webhooks).

    `secret_sealed` is the shared HMAC key, or for `sm2` the platform's private signing key
    for this partner (the partner holds the public key), sealed under the key store's KEK
    (crypto.sealing; bound to the partner by `webhooks.secret_context`). It never leaves this
    table: not in logs, errors or API responses; the database alone does not reveal it.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(String(16), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    scheme: Mapped[str] = mapped_column(String(16))
    secret_sealed: Mapped[str] = mapped_column(String(400))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.partner} {self.scheme} {self.url}>"


class WebhookDelivery(Base):
    """One event on its way to one partner's webhook; the oldest undelivered one per
    (partner, aggregate) goes first, so a card's events arrive in order."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("partner", "event_seq"),
        Index("ix_webhook_deliveries_pending", "partner", "aggregate_id", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(String(16))
    # No foreign key: on PostgreSQL the outbox is partitioned by month (db.partitioning), its
    # keys include occurred_at, and old months are archived once every delivery is made.
    event_seq: Mapped[int]
    event_id: Mapped[str] = mapped_column(String(36))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


attach_events(OutboxEvent.__table__)  # partitioned by month on PostgreSQL (db.partitioning)
