"""Tables of the transit rebates (rebates.py): one row per (campaign, cleared tap) decided, one
row per clearing batch run, and one row per credit to a card's bank account (a campaign whose
rebates go to the account).

`discount_rebates` is the idempotency of the whole thing: its primary key is the campaign and
the tap's record line (clearing batch id, sequence number), so a tap is rebated by a campaign
at most once whatever is re-run. Rows with amount 0 are kept too (the holder's limit was
reached, or the budget had run out): they are what the report counts as refused, and they stop
a later re-run from giving the tap money the budget no longer had when its batch was run.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class TransitRebate(Base):
    __tablename__ = "discount_rebates"
    __table_args__ = (
        Index("ix_discount_rebates_holder", "campaign", "holder", "period"),
        Index("ix_discount_rebates_batch", "batch_id"),
    )

    campaign: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # clearing_batches.id
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # the record line
    asn: Mapped[str] = mapped_column(String(20), index=True)
    holder: Mapped[str] = mapped_column(String(40))  # p:<person id> or asn:<asn>
    period: Mapped[str] = mapped_column(String(16))  # YYYY-MM or "campaign"
    tx_date: Mapped[date] = mapped_column(Date)
    fare: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(20))  # rebate_rules.Outcome
    credit_ref: Mapped[str | None] = mapped_column(String(32))  # the wallet credit (top-up order no)
    created_at: Mapped[datetime]


class TransitRebateRun(Base):
    """One clearing batch's rebates, run once (unique batch): what it decided and credited."""

    __tablename__ = "discount_rebate_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(unique=True)
    file_id: Mapped[str] = mapped_column(String(64))
    taps: Mapped[int]  # cleared purchases of our cards in the batch
    decided: Mapped[int]  # (campaign, tap) rows written
    granted: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    credits: Mapped[int]  # wallet credits created (one per card)
    summary: Mapped[dict]  # per campaign: taps, fen, holders, refused by reason
    run_at: Mapped[datetime]
    run_by: Mapped[str] = mapped_column(String(64))


class RebateAccountCredit(Base):
    """A file's rebates for one card from one sponsor, to be credited to the card's bank account
    (BankGateway.credit_to_account, the sponsor as payer). Written by the rebate run with the
    rows it pays (state `pending`); delivered later outside the platform's write transaction
    (rebates.deliver_account_credits): the attempt is recorded, the bank asked with no
    transaction open, its answer recorded. `request_id` is the bank's idempotency key, the same
    on every attempt, so a retry after a crash or a timeout is answered with the first result
    and never credits twice.

    state: pending (not answered yet) | posted | held (the bank holds it until the account is
    activated, then posts it) | to_wallet (the bank refused: a wallet credit instead,
    `order_no`) | undeliverable (refused and the wallet closed too: reported, nothing owed)."""

    __tablename__ = "discount_rebate_account_credits"
    __table_args__ = (Index("ix_discount_rebate_account_credits_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), unique=True)
    batch_id: Mapped[int] = mapped_column(index=True)
    file_id: Mapped[str] = mapped_column(String(64))
    asn: Mapped[str] = mapped_column(String(20))
    issuer_id: Mapped[str] = mapped_column(String(16))
    card_no: Mapped[str] = mapped_column(String(9))
    bank_code: Mapped[str] = mapped_column(String(16))
    pan: Mapped[str] = mapped_column(String(19))
    sponsor_code: Mapped[str] = mapped_column(String(32))  # the payer at the bank
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    reason_code: Mapped[str | None] = mapped_column(String(48))
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
    order_no: Mapped[str | None] = mapped_column(String(32))  # the wallet credit instead
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
