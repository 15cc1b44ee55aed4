from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


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
    payload: Mapped[dict]
    occurred_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
