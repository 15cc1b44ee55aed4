"""Tables of the card registry: cards, blocks, bank events, closure tasks, wallet refunds."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yikatong.db.base import Base


class Card(Base):
    """One physical card. `state` says where it is in its life; the HR status is derived from
    its blocks and the clock on every read; `financial_status` is the platform's copy of what
    the partner bank says, changed only by `service.apply_bank_event`.

    `version` guards against two changes at once (optimistic locking): every lifecycle change
    touches the row, so the second of two concurrent writers fails with ConcurrentChange.
    """

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_no: Mapped[str] = mapped_column(String(9), unique=True)
    person_id: Mapped[int] = mapped_column(index=True)
    application_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(16))  # first | replacement | exchange
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    card_id_code: Mapped[str] = mapped_column(String(32), unique=True)
    chip_serial: Mapped[str] = mapped_column(String(32))
    pan: Mapped[str] = mapped_column(String(19), unique=True)
    asn: Mapped[str] = mapped_column(String(32), index=True)  # found by it at transit contacts
    issue_date: Mapped[date]
    financial_valid_until: Mapped[date] = mapped_column(index=True)
    predecessor_card_no: Mapped[str | None] = mapped_column(String(9), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # see rules.CardState
    produced_at: Mapped[datetime]
    handed_over_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    end_note: Mapped[str | None] = mapped_column(Text)
    transferred_to_province: Mapped[str | None] = mapped_column(String(2))
    # the card that took over (replacement or exchange; for an exchange the HR function moved)
    successor_card_no: Mapped[str | None] = mapped_column(String(9))
    financial_status: Mapped[str] = mapped_column(String(16))  # see rules.FinancialStatus
    financial_activated_at: Mapped[datetime | None]
    financial_status_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    blocks: Mapped[list[CardBlock]] = relationship(
        back_populates="card", order_by="CardBlock.id", lazy="selectin",
        cascade="all, delete-orphan",
    )

    # The service sets the version itself (rules: one bump per change, even when no other
    # column changes); the ORM still checks it in every UPDATE's WHERE clause.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class CardBlock(Base):
    """A temporary loss, formal loss or administrative freeze of one function of a card.

    It is in force from `started_at` until it is lifted or, for a block with `ends_at`
    (a 7-day HR temporary loss), until that instant passes, whether or not a job has run yet.
    """

    __tablename__ = "card_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    function: Mapped[str] = mapped_column(String(16))  # hr | financial
    kind: Mapped[str] = mapped_column(String(16))  # temporary_loss | formal_loss | freeze
    reason_code: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(64))
    set_by_role: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))  # the exact channel it was set through
    branch_code: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(index=True)
    lifted_at: Mapped[datetime | None] = mapped_column(index=True)
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lifted_by_role: Mapped[str | None] = mapped_column(String(32))
    lifted_channel: Mapped[str | None] = mapped_column(String(32))
    lift_reason: Mapped[str | None] = mapped_column(String(32))
    bank_event_id: Mapped[str | None] = mapped_column(String(64))

    card: Mapped[Card] = relationship(back_populates="blocks")


class BankEventRecord(Base):
    """A bank event already applied to the financial copy: the same event id is applied once."""

    __tablename__ = "card_bank_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    card_no: Mapped[str] = mapped_column(String(9), index=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    payload: Mapped[dict]


class BankAccountClosureTask(Base):
    """After an exchange the old card's bank account must be closed at its bank (四.8)."""

    __tablename__ = "card_bank_account_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_no: Mapped[str] = mapped_column(String(9), index=True)
    successor_card_no: Mapped[str | None] = mapped_column(String(9))
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    pan: Mapped[str] = mapped_column(String(19))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # requested | completed
    bank_task_id: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_event_id: Mapped[str | None] = mapped_column(String(64))


class WalletRefundRecord(Base):
    """A citizen-card outlet refunded (退值) the card's transit wallet before an exchange."""

    __tablename__ = "card_wallet_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_no: Mapped[str] = mapped_column(String(9), index=True)
    refunded_fen: Mapped[int]
    outlet_code: Mapped[str | None] = mapped_column(String(32))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
