"""Ledger tables: accounts with a cached balance, journals (one balanced transaction each)
and their postings. Amounts are fen; a posting is debit positive, credit negative (see
rules.py for the balance sign per account kind).

Journals and postings are append-only and every journal's postings sum to zero. SQL cannot
express a sum over rows in a CHECK, so `_guard_journals` enforces both on every ORM flush;
the non-negative balance and the CNY currency are CHECK constraints in the database itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from yikatong.db.base import Base
from yikatong.ledger.errors import UnbalancedJournal


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("currency = 'CNY'", name="cny_only"),
        CheckConstraint("allow_negative OR balance >= 0", name="non_negative"),
        CheckConstraint("kind IN ('asset', 'liability', 'equity', 'income', 'expense')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True)  # e.g. bank:ICBC:customer:<pan>
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    allow_negative: Mapped[bool] = mapped_column(default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)  # fen, on the account's normal side
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class Journal(Base):
    """One balanced transaction. `request_id` makes posting idempotent; `fingerprint`
    (of kind and legs) tells a retry from a different request reusing the id."""

    __tablename__ = "ledger_journals"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    memo: Mapped[str] = mapped_column(String(256), default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)

    postings: Mapped[list[Posting]] = relationship(
        back_populates="journal", order_by="Posting.id", cascade="save-update, merge"
    )


class Posting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="non_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("ledger_journals.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # fen: debit +, credit −

    journal: Mapped[Journal] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship()


class LedgerIsAppendOnly(RuntimeError):
    """A programming error: journals and postings are never changed or deleted."""


@event.listens_for(Session, "before_flush")
def _guard_journals(session: Session, _context, _instances) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, Journal | Posting) and (obj in session.deleted or session.is_modified(obj)):
            raise LedgerIsAppendOnly(f"{type(obj).__name__} rows are append-only")
    for obj in session.new:
        if isinstance(obj, Posting) and obj.journal not in session.new:
            raise LedgerIsAppendOnly("postings may only be added with a new journal")
        if isinstance(obj, Journal):
            total = sum(posting.amount for posting in obj.postings)
            if total != 0 or len(obj.postings) < 2:
                raise UnbalancedJournal(total=total)
