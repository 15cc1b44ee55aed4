from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class AuditRecord(Base):
    """Who did what to which record, when, through which channel, with before and after.

    Records of one entity form a hash chain (`seq`, `prev_hash`, `hash`); the unique
    (entity_type, entity_id, seq) also makes two concurrent writers on one entity collide
    instead of both winning.
    """

    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    before: Mapped[dict | None]
    after: Mapped[dict | None]
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
