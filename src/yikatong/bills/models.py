"""Tables of payments out: bills due, payments with their receipts and refunds, standing
mandates (代扣), and the personnel exams whose fees are paid here.

A bill's money never sits on the platform: the card's bank moves it (BankGateway
pay_from_account / refund_to_account); these rows are the platform's record of what was asked,
paid and refunded, each change audited."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Bill(Base):
    """Something a person owes a payee: a contribution they declared, an exam fee, a utility's
    bill. `external_ref` is the payee's own number for it (a utility's bill number, or the
    platform's key for a declared contribution: a person's period is billed once)."""

    __tablename__ = "bills"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payee_code: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(64))
    account_ref: Mapped[str | None] = mapped_column(String(64))  # 户号, exam code …
    period: Mapped[str] = mapped_column(String(16))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int]
    due_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("payee_code", "external_ref"),
        Index("ix_bills_status_due", "status", "due_date"),
    )


class BillPayment(Base):
    """One payment of a bill from a card account, and its refund. `idempotency_key` is the
    caller's key: a double click or a retry finds this row and pays nothing twice."""

    __tablename__ = "bill_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    receipt_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    payee_code: Mapped[str] = mapped_column(String(32), index=True)
    amount_fen: Mapped[int]
    card_no: Mapped[str] = mapped_column(String(32))
    bank_code: Mapped[str] = mapped_column(String(16))
    pan: Mapped[str] = mapped_column(String(32))
    authorisation: Mapped[str] = mapped_column(String(64))  # mandate:<id> | once:<key>
    bank_request_id: Mapped[str] = mapped_column(String(64))
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    paid_at: Mapped[datetime]
    paid_by: Mapped[str] = mapped_column(String(64))
    refunded_at: Mapped[datetime | None]
    refunded_by: Mapped[str | None] = mapped_column(String(64))
    refund_reason: Mapped[str | None] = mapped_column(String(200))
    refund_bank_reference: Mapped[str | None] = mapped_column(String(64))


class BillMandate(Base):
    """A standing mandate (代扣): the holder lets a payee's bills be paid from the card account
    on their due date, up to `limit_fen` a payment. `active_key` is set while it is in force, so
    a person has one mandate per payee at a time."""

    __tablename__ = "bill_mandates"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    payee_code: Mapped[str] = mapped_column(String(32))
    limit_fen: Mapped[int | None]
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class ExamSession(Base):
    """A personnel exam (人事考试) open for registration: its subjects, date, and whether the
    exam office cancelled it (then every fee paid is refunded)."""

    __tablename__ = "exam_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    exam_date: Mapped[date]
    subjects: Mapped[list]
    status: Mapped[str] = mapped_column(String(16))  # open | cancelled
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
