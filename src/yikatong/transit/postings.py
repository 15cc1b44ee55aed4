"""The transit wallet's money movements as ledger journals (every movement is a posting)."""

from __future__ import annotations

from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.transit.rules import account_settings


def post(*, uow: UnitOfWork, request_id: str, kind: str, debit: str, credit: str, amount: Fen,
         memo: str = "") -> None:
    """Debit one transit account and credit another by `amount` (idempotent by request_id;
    nothing is posted for zero). Accounts are opened on first use."""
    if amount == 0:
        return
    for code in (debit, credit):
        account_kind, allow_negative = account_settings(code)
        ledger.open_account(uow=uow, code=code, kind=account_kind, allow_negative=allow_negative)
    ledger.post(uow=uow, request_id=request_id, kind=kind, legs=[(debit, amount), (credit, -amount)],
                memo=memo)
