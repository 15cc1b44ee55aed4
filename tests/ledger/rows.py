"""What a journal left in the tables, for tests that compare two ways of posting."""

from __future__ import annotations

from sqlalchemy import select

from yikatong.ledger.models import Journal, LedgerAccount, Posting


def journal_rows(platform, request_id: str) -> tuple:
    """The journal's kind, memo and fingerprint, and its postings as (account code, amount)."""
    with platform.uow() as uow:
        journal = uow.session.execute(select(Journal).where(Journal.request_id == request_id)).scalar_one()
        postings = uow.session.execute(
            select(LedgerAccount.code, Posting.amount).join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(Posting.journal_id == journal.id).order_by(Posting.id)).all()
        return (journal.kind, journal.memo, journal.fingerprint), [tuple(p) for p in postings]
