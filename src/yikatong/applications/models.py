"""Applications, employer batches and production batches.

There is deliberately no fee column anywhere: applying, replacing and exchanging are free of
charge (四.1).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))            # first / replacement / exchange
    exchange_reason: Mapped[str | None] = mapped_column(String(24))
    mode: Mapped[str] = mapped_column(String(16))            # self / agent / employer
    channel: Mapped[str] = mapped_column(String(16))         # outlet / online
    status: Mapped[str] = mapped_column(String(32), index=True)
    person_id: Mapped[int | None] = mapped_column(index=True)
    # Equals person_id while the application is open and NULL once it is closed: the unique
    # constraint makes "one open application per person" hold even when two outlets race
    # (NULLs never collide, on SQLite and PostgreSQL alike).
    open_person_id: Mapped[int | None] = mapped_column(unique=True)
    identity_review_id: Mapped[int | None]
    applicant: Mapped[dict]                                  # what was presented at intake
    agent: Mapped[dict | None]                               # agent's name and document
    employer_batch_id: Mapped[int | None] = mapped_column(ForeignKey("employer_batches.id"))
    bank_code: Mapped[str] = mapped_column(String(16))
    submitted_at_outlet: Mapped[str | None] = mapped_column(String(32))
    delivery: Mapped[str] = mapped_column(String(16))        # pickup / ems_cod
    pickup_outlet_code: Mapped[str | None] = mapped_column(String(32))
    mailing_address: Mapped[str | None] = mapped_column(String(256))
    ems_tracking_no: Mapped[str | None] = mapped_column(String(32))
    predecessor_card_no: Mapped[str | None] = mapped_column(String(16))
    production_batch_id: Mapped[int | None] = mapped_column(ForeignKey("production_batches.id"))
    card_no: Mapped[str | None] = mapped_column(String(16), unique=True)
    pan: Mapped[str | None] = mapped_column(String(19))
    issue_date: Mapped[date | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(64), index=True)  # login name, for display
    # The owner: users.id of the login that submitted (None for system actors and the CLI).
    submitted_by_user_id: Mapped[int | None] = mapped_column(index=True)
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class EmployerBatch(Base):
    __tablename__ = "employer_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    employer_name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str | None] = mapped_column(String(18))
    authorisation_letter_ref: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[dict]
    submitted_by: Mapped[str] = mapped_column(String(64), index=True)  # login name, for display
    submitted_by_user_id: Mapped[int | None] = mapped_column(index=True)  # the owner (users.id)
    submitted_at: Mapped[datetime]
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[list]                                       # per employee: outcome and reason


class ProductionBatch(Base):
    __tablename__ = "production_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    factory_batch_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))          # submitted / completed
    issue_date: Mapped[date]                                 # printed on every card in it
    size: Mapped[int]
    produced: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}


class EventCursor(Base):
    """How far a consumer of this package has read the outbox (its own inbox position)."""

    __tablename__ = "applications_event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
