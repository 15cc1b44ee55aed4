"""Tables of the pension's yearly eligibility confirmation (待遇资格认证), its suspensions, and
the recovery of pensions paid for months after death (issue 14).

`pension_eligibility` is one row per pensioner: the day the last confirmation holds through,
the day of death once known, and the state the office sees. `payable_person_ids` reads it
set-based (one indexed query for a whole run). Money is integer fen.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class PensionEligibility(Base):
    """A pensioner's confirmation state: `valid_until` (inclusive) of the last confirmation
    (or of the pension's start), `status` (certification_rules.Status), `suspended_from` the
    first unpaid month of a lapse in force, `died_on` once the death is recorded."""

    __tablename__ = "pension_eligibility"

    person_id: Mapped[int] = mapped_column(primary_key=True)
    office_code: Mapped[str] = mapped_column(String(16))
    since: Mapped[date]
    valid_until: Mapped[date] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    suspended_from: Mapped[str | None] = mapped_column(String(7))
    reminded_for: Mapped[date | None]  # the valid_until the holder was last texted about
    died_on: Mapped[date | None]
    last_certification_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class PensionCertification(Base):
    """One confirmation: by the card (card_no), the e-card (ecard_no) or an outlet operator
    (outlet_code, the documents seen). `request_id` makes a retried request answer with the
    first confirmation."""

    __tablename__ = "pension_certifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))
    certified_on: Mapped[date]
    valid_until: Mapped[date]
    card_no: Mapped[str | None] = mapped_column(String(9))
    ecard_no: Mapped[str | None] = mapped_column(String(32))
    outlet_code: Mapped[str | None] = mapped_column(String(32))
    documents: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(160), unique=True)
    certified_at: Mapped[datetime]


class PensionSuspension(Base):
    """A lapse: payment suspended from `from_period`; a confirmation resumes it and lists the
    months paid back (`back_pay_periods`, `back_pay_status` due → paid)."""

    __tablename__ = "pension_suspensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    from_period: Mapped[str] = mapped_column(String(7))
    suspended_at: Mapped[datetime]
    resumed_at: Mapped[datetime | None]
    resumed_by_certification_id: Mapped[int | None]
    back_pay_periods: Mapped[list | None]
    back_pay_status: Mapped[str] = mapped_column(String(16))  # none | due | paid
    # one open suspension per person: the person id while open, None once resumed
    open_key: Mapped[int | None] = mapped_column(unique=True)


class PensionRecovery(Base):
    """A pension paid for a month after death, to be taken back from the account it went to.
    One row per overpaid payment (unique per programme, person, period: never recovered
    twice). `status`: owed (recorded; the bank not asked or refused) | recovered."""

    __tablename__ = "pension_recoveries"
    __table_args__ = (UniqueConstraint("programme", "person_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    programme: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    died_on: Mapped[date]
    office_code: Mapped[str] = mapped_column(String(16), index=True)
    bank_code: Mapped[str | None] = mapped_column(String(16))
    card_no: Mapped[str | None] = mapped_column(String(9))
    status: Mapped[str] = mapped_column(String(16), index=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_refusal: Mapped[str | None] = mapped_column(String(64))
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    recovered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class PensionEventCursor(Base):
    """How far the pension's catch-up job has read the outbox (card deaths)."""

    __tablename__ = "pension_event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
