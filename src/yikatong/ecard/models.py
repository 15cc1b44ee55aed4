"""Tables of the e-card: the e-card, consent per channel, used QR nonces, the signed status
lists and the outbox cursor of the e-card's event consumer.

The e-card row holds no status of its own: the status is derived from the physical card on
every read. `card_no` and `listed_state` are mirrors kept for lookups and for the offline
status lists (what the terminals were last told), never the source of truth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yikatong.db.base import Base


class Ecard(Base):
    __tablename__ = "ecards"

    id: Mapped[int] = mapped_column(primary_key=True)
    ecard_no: Mapped[str] = mapped_column(String(16), unique=True)
    person_id: Mapped[int] = mapped_column(index=True)
    # Equals person_id until revoked, then NULL: the unique constraint keeps one live e-card
    # per person even when two deliveries of the same application race.
    live_person_id: Mapped[int | None] = mapped_column(unique=True)
    status_index: Mapped[int] = mapped_column(unique=True)  # its bit in the status lists
    application_id: Mapped[int | None]
    card_no: Mapped[str | None] = mapped_column(String(9), index=True)  # bound card (mirror)
    listed_state: Mapped[str] = mapped_column(String(16), index=True)  # rules.ListedState
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[datetime | None]
    password_failures: Mapped[int] = mapped_column(default=0)
    password_locked_until: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(nullable=False)

    consents: Mapped[list[EcardConsent]] = relationship(
        back_populates="ecard", order_by="EcardConsent.id", lazy="selectin",
        cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:  # never the password hash
        return f"<Ecard {self.ecard_no} person={self.person_id}>"


class EcardConsent(Base):
    """The holder's consent on one channel (四.15: usable after the holder agrees there)."""

    __tablename__ = "ecard_consents"
    __table_args__ = (UniqueConstraint("ecard_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ecard_id: Mapped[int] = mapped_column(ForeignKey("ecards.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    reauthorised_at: Mapped[datetime | None]  # after a loss of the physical card
    password_session_until: Mapped[datetime | None]  # codes without re-entering the password

    ecard: Mapped[Ecard] = relationship(back_populates="consents")


class EcardTokenUse(Base):
    """A QR code used for one business transaction: the unique nonce refuses a second use."""

    __tablename__ = "ecard_token_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(16), unique=True)
    ecard_no: Mapped[str] = mapped_column(String(16), index=True)
    business: Mapped[str] = mapped_column(String(64))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    used_by: Mapped[str] = mapped_column(String(64))
    token_expires_at: Mapped[datetime]
    used_at: Mapped[datetime]


class EcardStatusList(Base):
    """The last signed status list of one purpose (suspension / revocation)."""

    __tablename__ = "ecard_status_lists"

    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    credential: Mapped[dict]
    etag: Mapped[str] = mapped_column(String(64))
    set_count: Mapped[int]
    built_at: Mapped[datetime]
    valid_until: Mapped[datetime]


class EcardEventCursor(Base):
    """How far the e-card's catch-up job has read the outbox."""

    __tablename__ = "ecard_event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
