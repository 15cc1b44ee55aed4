"""The reference bank's own tables. The platform never reads them: it reaches the bank only
through the `BankGateway` (and the bank's branch API, `banking.api`). They live in the bank's
own database (see `banking.runtime`), which is the platform's database only on PostgreSQL.

Money is not here: each account's balance is a ledger account (`yikatong.ledger`), and
`BankTransaction` is the bank's log of what it did with it (posted, held, failed).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class BankAccount(Base):
    """A card's debit account at its bank. `pan` may be unknown for a moment: the bank opens
    the account when it learns that the card was produced, and binds the account number when
    the production list or the first request names it."""

    __tablename__ = "bank_accounts"
    __table_args__ = (UniqueConstraint("bank_code", "card_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    pan: Mapped[str | None] = mapped_column(String(19), unique=True)
    card_no: Mapped[str] = mapped_column(String(9), index=True)  # the platform's card number
    holder_ref: Mapped[str | None] = mapped_column(String(32))  # the platform's person id
    # The holder's name as the production list gave it (card.produced `holder_name`),
    # normalised (rules.normalise_name); a disbursement row's name is compared with it.
    holder_name: Mapped[str | None] = mapped_column(String(64))
    # Frozen by the bank (a court or a supervisor's order): no money in or out until lifted.
    frozen_at: Mapped[datetime | None]
    frozen_reason: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # see rules.AccountStatus
    issue_date: Mapped[date | None]
    valid_until: Mapped[date | None]  # the financial function's 10-year validity (二.2)
    opened_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    activated_branch: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None]
    hr_status: Mapped[str | None] = mapped_column(String(16))  # as the platform last told us
    hr_status_at: Mapped[datetime | None]
    last_atc: Mapped[int] = mapped_column(default=0)  # highest chip counter seen (replays)
    # The platform retired the card (its `card.retired` event); a replaced card is dead for good.
    retired_at: Mapped[datetime | None]
    retired_reason: Mapped[str | None] = mapped_column(String(32))
    successor_card_no: Mapped[str | None] = mapped_column(String(9))
    # The platform's outbox seq of the last event the bank handled for this card about its HR
    # status, and about its loss (reported or lifted): an older one arriving later (re-ordered
    # in a pipelined publish) is recorded but not applied (service.ORDERED_STATES).
    platform_hr_seq: Mapped[int | None]
    platform_loss_seq: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class BankLoss(Base):
    """A loss the bank put on an account (temporary per its own rule, or formal)."""

    __tablename__ = "bank_losses"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # temporary_loss | formal_loss
    source: Mapped[str] = mapped_column(String(16))  # branch | platform | platform_sync
    channel: Mapped[str] = mapped_column(String(32))
    branch_code: Mapped[str | None] = mapped_column(String(32))
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(index=True)  # the bank rule lifts it then
    lifted_at: Mapped[datetime | None]
    lifted_channel: Mapped[str | None] = mapped_column(String(32))
    lift_reason: Mapped[str | None] = mapped_column(String(32))


class BankClosureTask(Base):
    """Close the account of a card retired by an exchange (四.8); done at a branch."""

    __tablename__ = "bank_closure_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    card_no: Mapped[str] = mapped_column(String(9))
    successor_card_no: Mapped[str | None] = mapped_column(String(9))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | completed
    requested_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(64))
    completed_branch: Mapped[str | None] = mapped_column(String(32))


class BankTransaction(Base):
    """Every money request the bank accepted, by the caller's request id (idempotency): posted
    to the ledger, held until the account is activated (四.9), or failed on release."""

    __tablename__ = "bank_transactions"
    __table_args__ = (UniqueConstraint("bank_code", "request_id"),
                      # held ones only: a posted row (a million a disbursement run) adds
                      # no entry; held_payments reads the bank's held ones from it
                      Index("ix_bank_transactions_held", "bank_code", "status",
                            postgresql_where=text("status = 'held'"),
                            sqlite_where=text("status = 'held'")))

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # see rules.TransactionKind
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    counterparty: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # posted | held | failed
    reason_code: Mapped[str | None] = mapped_column(String(48))
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
    atc: Mapped[int | None]
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    # A direct debit: the platform's reference of the holder's consent (mandate or one-off
    # confirmation id). A refund: the original direct debit's request id (and its consent).
    authorisation: Mapped[str | None] = mapped_column(String(64))
    original_request_id: Mapped[str | None] = mapped_column(String(64))


class BankOutboxMessage(Base):
    """What the bank tells the platform, written in the same transaction as the change; the
    relay (in-process, or `ykt bank serve` onto NATS) sends it and marks it published."""

    __tablename__ = "bank_outbox"

    seq: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    bank_code: Mapped[str] = mapped_column(String(16), index=True)
    card_no: Mapped[str] = mapped_column(String(9))
    type: Mapped[str] = mapped_column(String(32))  # a cards.protocols.BankEventType
    occurred_at: Mapped[datetime]
    payload: Mapped[dict]
    # Wall-clock time the bank returned this event in its answer to a gateway request: the
    # relay lets the asking platform transaction commit it first (see link.sendable).
    answered_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None] = mapped_column(index=True)


class BankProcessedMessage(Base):
    """A platform event the bank has handled: written with the effect, so a redelivery is
    recognised and applied once; `outcome` says whether it changed anything."""

    __tablename__ = "bank_processed_messages"
    __table_args__ = (UniqueConstraint("bank_code", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    card_no: Mapped[str | None] = mapped_column(String(64))
    platform_seq: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(16))  # applied | ignored
    note: Mapped[str | None] = mapped_column(String(200))
    processed_at: Mapped[datetime]


class BankDisbursementBatch(Base):
    """A disbursement (代发) file a paying office's platform handed the bank
    (`BankGateway.submit_disbursement`, docs/bank-files.md): received at submit, processed in
    one transaction (banking.disbursement), its result file written from these rows."""

    __tablename__ = "bank_disbursement_batches"
    __table_args__ = (UniqueConstraint("bank_code", "batch_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[str] = mapped_column(String(64))
    receipt_id: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(128))
    file_sm3: Mapped[str] = mapped_column(String(64))  # of the rows part, as in the header
    payer_code: Mapped[str] = mapped_column(String(32))
    pay_date: Mapped[date]
    row_count: Mapped[int]
    total_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)  # received | processed
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    posted_count: Mapped[int] = mapped_column(default=0)
    posted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    held_count: Mapped[int] = mapped_column(default=0)
    held_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    failed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    journal_request_id: Mapped[str | None] = mapped_column(String(128))
    result_file: Mapped[str | None] = mapped_column(String(128))


class BankDisbursementRow(Base):
    """One row of a disbursement file and what the bank decided. `origin` new: the first
    time the bank saw the row_ref (unique per bank among new rows); repeat: the same content
    again (it answers the first row's result, `first_id`); conflict: the row_ref with other
    content (failed, row_ref_reused). Posted and held rows also have a bank transaction
    (kind credit, request_id = row_ref) on the holder's account."""

    __tablename__ = "bank_disbursement_rows"
    __table_args__ = (
        UniqueConstraint("batch_pk", "line_no"),
        Index("ux_bank_disbursement_rows_ref", "bank_code", "row_ref", unique=True,
              postgresql_where=text("origin = 'new'"), sqlite_where=text("origin = 'new'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # bank_disbursement_batches.id; no foreign key: the rows are written in bulk by their
    # batch's own transaction, and a per-row FK check was a tenth of a batch's time
    batch_pk: Mapped[int]
    bank_code: Mapped[str] = mapped_column(String(16))
    line_no: Mapped[int]
    row_ref: Mapped[str] = mapped_column(String(64))
    pan: Mapped[str] = mapped_column(String(19))
    name: Mapped[str] = mapped_column(String(64))  # normalised (rules.normalise_name)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(64))  # of pan, name and amount
    origin: Mapped[str] = mapped_column(String(8))  # new | repeat | conflict
    first_id: Mapped[int | None]  # a repeat: the row whose result it answers
    account_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(8))  # posted | held | failed
    reason_code: Mapped[str | None] = mapped_column(String(24))
