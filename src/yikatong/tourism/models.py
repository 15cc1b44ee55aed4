"""Tables of tourism and venues: operators, venues, products (day tickets and real-name passes),
the tickets and passes sold (one table: a pass is a ticket of kind `pass`), the seats sold per
time slot (capacity), and the entries the gates let through.

A ticket's money never sits on the platform: a bank-account sale moves it at the card's bank
(BankGateway.pay_from_account / refund_to_account); a wallet sale is a T-Union purchase at the
venue's terminal, cleared by the existing clearing with the venue operator as operator, and the
ticket keeps that purchase's reference."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class VenueOperator(Base):
    """A company running one or more venues (景区/场馆运营方). Its staff sign in as
    Role.VENUE_OPERATOR with branch_code = `code`."""

    __tablename__ = "tourism_operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Venue(Base):
    """A scenic spot or cultural venue. `level` is its A-level (5A, 4A) or empty; `source` says
    where the level comes from. `free_categories` are the people it admits free, as data:
    [{"code": "senior", "min_age": 70, "name_zh": …, "name_en": …}]."""

    __tablename__ = "tourism_venues"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    operator_code: Mapped[str] = mapped_column(String(32), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # scenic | museum | culture
    level: Mapped[str] = mapped_column(String(8))
    district: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(300))
    free_categories: Mapped[list]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Product(Base):
    """What a venue or operator sells. A day ticket (`day_ticket`) is for one venue, one day,
    one time slot (`slots`: [{"slot": "09:00-12:00", "capacity": 500}]); a pass (`pass`) is
    real-name, for the venues listed, activated within `activation_months` of the sale and valid
    `valid_months` from activation, one entry per venue per day."""

    __tablename__ = "tourism_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    operator_code: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int]
    venue_codes: Mapped[list]
    slots: Mapped[list]
    activation_months: Mapped[int | None]
    valid_months: Mapped[int | None]
    # How a pass's revenue is split between its venues (tourism.rules.split_problem):
    # {"basis": "entries"} or {"basis": "fixed", "shares_bp": {venue: bp}}; None for a day
    # ticket (one venue) and for a pass recorded before the rule existed (split by entries).
    split: Mapped[dict | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class Ticket(Base):
    """A day ticket or a pass sold to a person. `idempotency_key` is the seller's key (a
    retry sells nothing twice); `purchase_reference` is the T-Union purchase's reference for a
    wallet sale (unique: one purchase pays one ticket). For a ticket `venue_code`, `day` and
    `slot` are set; for a pass `activate_by`, then `valid_from`/`valid_until` once activated."""

    __tablename__ = "tourism_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    product_code: Mapped[str] = mapped_column(String(32), index=True)
    operator_code: Mapped[str] = mapped_column(String(32), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    venue_code: Mapped[str | None] = mapped_column(String(32))
    day: Mapped[date | None]
    slot: Mapped[str | None] = mapped_column(String(16))
    price_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0)
    paid_fen: Mapped[int]
    voucher_ref: Mapped[str | None] = mapped_column(String(64))
    payment: Mapped[str] = mapped_column(String(16))  # bank | wallet
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    purchase_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    card_no: Mapped[str | None] = mapped_column(String(32))
    bank_code: Mapped[str | None] = mapped_column(String(16))
    pan: Mapped[str | None] = mapped_column(String(32))
    bank_request_id: Mapped[str | None] = mapped_column(String(64))
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # valid | used | refunded
    activate_by: Mapped[date | None]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    sold_at: Mapped[datetime]
    sold_by: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    refunded_by: Mapped[str | None] = mapped_column(String(64))
    refund_reason: Mapped[str | None] = mapped_column(String(200))
    refund_bank_reference: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_tourism_tickets_venue_day", "venue_code", "day"),
    )


class SlotSales(Base):
    """Seats sold for one venue, day and time slot: raised by a conditional UPDATE that only
    passes below the slot's capacity, so two sellers never sell the last seat twice."""

    __tablename__ = "tourism_slot_sales"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_code: Mapped[str] = mapped_column(String(32))
    day: Mapped[date]
    slot: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int]
    sold: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("venue_code", "day", "slot"),)


class Entry(Base):
    """An entry a gate let through (online or uploaded later). `entry_id` is the gate's own
    id for it (idempotency key). `exception` is set when an uploaded offline entry broke a rule
    (a second entry the same day, a refunded ticket …): it is recorded all the same, flagged."""

    __tablename__ = "tourism_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)
    venue_code: Mapped[str] = mapped_column(String(32))
    gate_id: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(index=True)
    card_no: Mapped[str | None] = mapped_column(String(32))
    presented: Mapped[str] = mapped_column(String(8))
    ground: Mapped[str] = mapped_column(String(8))
    reference: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    day: Mapped[date]
    offline: Mapped[bool]
    exception: Mapped[str | None] = mapped_column(String(32))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_tourism_entries_venue_day", "venue_code", "day"),
        Index("ix_tourism_entries_reference_day", "reference", "day"),
    )


class Gate(Base):
    """A gate registered at a venue (its id is the one it puts on its entries). `mode` says
    how it decides: `online` (asks the platform at each tap) or `offline` (from the signed
    allow-list)."""

    __tablename__ = "tourism_gates"

    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[str] = mapped_column(String(32), unique=True)
    venue_code: Mapped[str] = mapped_column(String(32), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class Settlement(Base):
    """One settlement of the passes' revenue for a period of days (both ends included):
    which passes were split, how (`lines`: per product the basis, the weights and the fen per
    venue), what moved in the ledger (`journal`, None when nothing had to move) and what waits
    (wallet sales whose purchase is not cleared yet: carried to the next settlement). A period
    is settled once (unique), in order."""

    __tablename__ = "tourism_settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_from: Mapped[date]
    period_to: Mapped[date]
    tickets: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    moved_fen: Mapped[int] = mapped_column(BigInteger)
    waiting: Mapped[int]
    waiting_fen: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list]
    journal: Mapped[str | None] = mapped_column(String(128))
    settled_at: Mapped[datetime]
    settled_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("period_from", "period_to"),)


class PassShare(Base):
    """One venue's share of one pass's sale, written by a settlement. `from_account` is where
    the sale's money sits (the seller's), `to_account` the venue operator's; equal when the
    venue is the seller's own (nothing moves). A refund reverses it (`reversed_at`)."""

    __tablename__ = "tourism_pass_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("tourism_settlements.id"), index=True)
    ticket_no: Mapped[str] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(String(32))
    venue_code: Mapped[str] = mapped_column(String(32), index=True)
    operator_code: Mapped[str] = mapped_column(String(32))
    payment: Mapped[str] = mapped_column(String(16))
    share_fen: Mapped[int] = mapped_column(BigInteger)
    from_account: Mapped[str] = mapped_column(String(128))
    to_account: Mapped[str] = mapped_column(String(128))
    reversed_at: Mapped[datetime | None]
    reversed_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("ticket_no", "venue_code"),)
