"""Clearing tables: every file that crossed the platform's boundary, every card transaction
it carried, and the exceptions clearing raised.

`clearing_records` keeps one row per record line ever received, refused ones included
(status "rejected"), so nothing an operator sent is lost. The duplicate rule lives in the
database: one live row per (card, counter kind, counter), a unique index over the rows that
are not rejected. Rows are written in bulk (`bulk.py`), not through the ORM, so the model
below is the schema and the reader's view; keep `bulk.STORED_COLUMNS` in step with it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base
from yikatong.db.partitioning import attach_events

LIVE = text("status <> 'rejected'")
AWAITING_HOUSE = text("status = 'pending_national'")


class RecordStatus:
    CLEARED = "cleared"  # verified (by us, or by the national house) and settled
    PENDING_NATIONAL = "pending_national"  # another issuer's card: waiting for the house's verdict
    REJECTED = "rejected"  # forged, unverifiable, duplicate or refused by the house: never settled


class ClearingBatch(Base):
    """A file received (a terminal batch, our top-ups, the house's files) or sent (to the house).
    `file_id` + `digest` make receiving idempotent; `result` is the answer given for it."""

    __tablename__ = "clearing_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    sender: Mapped[str] = mapped_column(String(32))
    operator: Mapped[str] = mapped_column(String(16), default="")
    terminal_id: Mapped[str] = mapped_column(String(12), default="")
    reference: Mapped[str | None] = mapped_column(String(64))  # the file a verdict file answers
    digest: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int]
    total_1: Mapped[int] = mapped_column(BigInteger)  # record files: purchases; verdicts: accepted
    total_2: Mapped[int] = mapped_column(BigInteger)  # record files: loads; verdicts: refused
    received_at: Mapped[datetime] = mapped_column(index=True)
    received_by: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict]


class ClearedRecord(Base):
    __tablename__ = "clearing_records"
    __table_args__ = (
        Index("ux_clearing_records_card_counter", "asn", "counter_kind", "counter", unique=True,
              sqlite_where=LIVE, postgresql_where=LIVE),
        Index("ix_clearing_records_awaiting_house", "national_file",
              sqlite_where=AWAITING_HOUSE, postgresql_where=AWAITING_HOUSE),
        # A day's rows arrive together, so on PostgreSQL a block-range index finds them at a
        # fraction of a B-tree's upkeep per row (the review and the reports read by day).
        Index("ix_clearing_records_tx_date", "tx_date", postgresql_using="brin"),
    )

    # The record line, as the exceptions name it: the batch that brought it and its sequence
    # number there (no surrogate id: one index and one sequence call per row fewer in a bulk
    # write). The batch whose postings settled it is `settled_by`. No foreign keys: bulk.py,
    # the only writer, puts in the id of the batch row it inserted in the same transaction, and
    # batches are never deleted; the database would check that one fact once per row (on
    # PostgreSQL 40% of a file's COPY).
    batch_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    asn: Mapped[str] = mapped_column(String(20))
    issuer_id: Mapped[str] = mapped_column(String(16))
    own_card: Mapped[bool]
    counter_kind: Mapped[str] = mapped_column(String(7))  # online (loads) | offline
    counter: Mapped[int]
    tx_type: Mapped[int] = mapped_column(SmallInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    terminal_id: Mapped[str] = mapped_column(String(12))
    terminal_serial: Mapped[int] = mapped_column(BigInteger)
    card_time: Mapped[str] = mapped_column(String(14))  # YYYYMMDDhhmmss, China Standard Time
    occurred_at: Mapped[datetime]
    tx_date: Mapped[date] = mapped_column(Date)  # China Standard Time
    tac: Mapped[str] = mapped_column(String(8))
    key_version: Mapped[int] = mapped_column(SmallInteger)
    alg_id: Mapped[int] = mapped_column(SmallInteger)
    city: Mapped[str] = mapped_column(String(4))
    operator: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    tap: Mapped[str] = mapped_column(String(8))
    line: Mapped[str] = mapped_column(String(16))
    station: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(16))
    card_kind: Mapped[str] = mapped_column(String(16))
    rider: Mapped[str] = mapped_column(String(16))
    recovered: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    settled_by: Mapped[int | None]
    national_file: Mapped[str | None] = mapped_column(String(64))  # the NATIONAL_OUT file it went in
    national_seq: Mapped[int | None]


attach_events(ClearedRecord.__table__)  # partitioned by month of tx_date on PostgreSQL (db.partitioning)


class ClearingException(Base):
    """A flagged record with its reason (zh + en). Counter gaps and fare mismatches are
    resolved by the daily review when later records explain them; the rest stay for a person."""

    __tablename__ = "clearing_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The record line (batch, sequence number): a record's line in its own batch, even when a
    # later batch's records are what flagged it (a re-rating) or explained it (a gap filled).
    batch_id: Mapped[int] = mapped_column(ForeignKey("clearing_batches.id"), index=True)
    seq: Mapped[int]
    asn: Mapped[str] = mapped_column(String(20), index=True)
    counter_kind: Mapped[str] = mapped_column(String(7))
    counter: Mapped[int]
    tx_date: Mapped[date] = mapped_column(Date, index=True)  # the record's (China Standard Time)
    reason: Mapped[str] = mapped_column(String(24), index=True)
    zh: Mapped[str] = mapped_column(String(1024))
    en: Mapped[str] = mapped_column(String(1024))
    details: Mapped[dict]
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(256))
