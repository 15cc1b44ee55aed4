"""Tables of the benefits domain (issue 14): programmes, enrolments, the paying offices' payee
lists, disbursement runs with their batches and payments, the retry queue, and the ID→account
map that says into which card account a person is paid.

Money is integer fen (BigInteger). A payment is unique per (programme, period, ID number):
whatever happens to a run (a crash, a retry, a re-run) the same payee is never paid twice in
a period. A payment's bank row reference is `<programme>:<period>:<payment id>:<attempt>`
(rules.row_ref), so a resubmitted row is the same row to the bank.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class Programme(Base):
    """A benefit programme as loaded from config/programmes-changzhou.toml (reference data)."""

    __tablename__ = "benefit_programmes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    office_code: Mapped[str] = mapped_column(String(16), index=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(80))
    schedule: Mapped[str] = mapped_column(String(16))  # monthly | one_off
    pay_day: Mapped[int]
    payer_code: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict]      # the programme's limits and figures as data
    source: Mapped[str] = mapped_column(String(400))
    config_version: Mapped[str] = mapped_column(String(32))
    loaded_at: Mapped[datetime]


class Enrolment(Base):
    """A person entitled to a programme from `start_period` to `end_period` (inclusive; None:
    open), as decided by the paying office or an HR case (seam 3 `enrol`). `monthly_fen` is the
    amount per period (a one-off programme: the one amount); None: the programme's rule says.
    `facts` holds what the office's rules look at (degree, contribution years …)."""

    __tablename__ = "benefit_enrolments"
    __table_args__ = (UniqueConstraint("programme_code", "person_id", "source_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_code: Mapped[str] = mapped_column(String(16), index=True)
    person_id: Mapped[int] = mapped_column(index=True)
    monthly_fen: Mapped[int | None] = mapped_column(BigInteger)
    start_period: Mapped[str] = mapped_column(String(7))
    end_period: Mapped[str | None] = mapped_column(String(7))
    facts: Mapped[dict]
    source: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # active | ended
    ended_on: Mapped[date | None]
    end_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PayeeList(Base):
    """A paying office's payee list for one programme and period (upload or reference office)."""

    __tablename__ = "benefit_payee_lists"
    __table_args__ = (UniqueConstraint("programme_code", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_code: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    office_code: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # upload | reference
    row_count: Mapped[int]
    total_fen: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))  # SM3 of the canonical rows
    received_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class Payee(Base):
    """One row of a payee list: who (ID number, name) and how much."""

    __tablename__ = "benefit_payees"
    __table_args__ = (UniqueConstraint("list_id", "id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("benefit_payee_lists.id"))
    line_no: Mapped[int]
    id_number: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str] = mapped_column(String(60), default="")


class Run(Base):
    """A period's disbursement of one programme. `state`: paying (payments being mapped,
    batched, written, submitted, settled) → reconciled. Re-running continues from the rows'
    own states: every step only takes rows in the state it expects."""

    __tablename__ = "benefit_runs"
    __table_args__ = (UniqueConstraint("programme_code", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_code: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    list_id: Mapped[int] = mapped_column(ForeignKey("benefit_payee_lists.id"))
    office_code: Mapped[str] = mapped_column(String(16), index=True)
    payer_code: Mapped[str] = mapped_column(String(32))
    pay_date: Mapped[date]
    state: Mapped[str] = mapped_column(String(16))  # paying | reconciled
    mapped: Mapped[bool] = mapped_column(default=False)
    due_count: Mapped[int]
    due_fen: Mapped[int] = mapped_column(BigInteger)
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    reconciled_at: Mapped[datetime | None]
    reconciliation: Mapped[dict | None]  # the last reconciliation's figures
    reconciliation_file: Mapped[str | None] = mapped_column(String(300))


# Room on each page for a new version of the rows of one batch in six (a page holds rows of
# every bank's batch: the payments are dealt to banks in turn) with their bank reference.
PAYMENTS_FILLFACTOR = 75


class Payment(Base):
    """One payee's payment of a period. status: pending (mapped to an account, waiting for or
    in a batch) → posted | held (the bank holds it until the account is activated: a success)
    | failed (reason_code; retryable ones wait in the retry queue)."""

    __tablename__ = "benefit_payments"
    # No index holds status, reason_code, bank_reference or paid_on, and PostgreSQL pages are
    # filled to 75 %: a batch's results then update its rows in place (HOT: no new entry in
    # any of the four indexes per row; bench/disbursement.py). A run's rows by status are
    # read through (run_id, …) of ix_benefit_payments_run_batch.
    __table_args__ = (UniqueConstraint("programme_code", "period", "id_number"),
                      Index("ix_benefit_payments_run_batch", "run_id", "bank_code", "batch_seq"),
                      {"postgresql_with": {"fillfactor": PAYMENTS_FILLFACTOR}})

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("benefit_runs.id"))
    programme_code: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    id_number: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(60))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(default=1)
    bank_code: Mapped[str | None] = mapped_column(String(16))
    pan: Mapped[str | None] = mapped_column(String(19))
    card_no: Mapped[str | None] = mapped_column(String(9))
    batch_seq: Mapped[int | None]
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    paid_on: Mapped[date | None]
    updated_at: Mapped[datetime]


class Batch(Base):
    """One disbursement file to one bank. state: planned → written (the file is in the drop,
    its SM3 recorded) → submitted (the bank's receipt) → settled (its result file read)."""

    __tablename__ = "benefit_batches"
    __table_args__ = (UniqueConstraint("run_id", "bank_code", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("benefit_runs.id"), index=True)
    batch_id: Mapped[str] = mapped_column(String(64), unique=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int]
    state: Mapped[str] = mapped_column(String(12))
    row_count: Mapped[int] = mapped_column(default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    first_row_ref: Mapped[str | None] = mapped_column(String(64))
    last_row_ref: Mapped[str | None] = mapped_column(String(64))
    sm3_hex: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(300))
    receipt_id: Mapped[str | None] = mapped_column(String(64))
    result_file: Mapped[str | None] = mapped_column(String(300))
    posted_count: Mapped[int] = mapped_column(default=0)
    posted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    held_count: Mapped[int] = mapped_column(default=0)
    held_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    failed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RetryItem(Base):
    """A failed payment waiting to be paid again (account closed, frozen, name mismatch, no
    live card …): the holder got a text, the paying office sees it in its failures report.
    status: waiting → resubmitted (back in a batch) | exhausted (retry limit: office's turn)."""

    __tablename__ = "benefit_retry_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("benefit_payments.id"), unique=True)
    run_id: Mapped[int] = mapped_column(index=True)
    reason_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(default=1)
    queued_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class AccountMapEntry(Base):
    """ID→account map (OpenG2P-style): the account of the person's current live card (in use,
    else produced), kept current by the card events (accounts.py) and rebuildable from the
    card registry. No entry: the person has no live card (payment fails `no_card`)."""

    __tablename__ = "benefit_account_map"

    person_id: Mapped[int] = mapped_column(primary_key=True)
    card_no: Mapped[str] = mapped_column(String(9))
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    pan: Mapped[str] = mapped_column(String(19))
    updated_at: Mapped[datetime]


class AccountMapCursor(Base):
    """How far the map's catch-up job has read the platform's outbox."""

    __tablename__ = "benefit_event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)


# The pension confirmation's and recoveries' tables (pension helper), loaded with these.
from yikatong.benefits.certification_models import (  # noqa: E402,F401
    PensionCertification,
    PensionEligibility,
    PensionEventCursor,
    PensionRecovery,
    PensionSuspension,
)
