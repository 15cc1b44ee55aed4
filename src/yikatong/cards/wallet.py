"""The default `WalletBalance` until the transit issue fills it in from its own records."""

from __future__ import annotations

from sqlalchemy import select

from yikatong.cards.models import WalletRefundRecord
from yikatong.core.money import Fen


class RecordedWalletRefunds:
    """Knows only what citizen-card outlets record: once a refund (退值) of the wallet is
    recorded the balance is 0; before that it is unknown (None), and an exchange waits for
    the refund (四.13). The transit issue replaces this with the cleared balance."""

    def unrefunded_balance(self, *, uow, card_no: str) -> Fen | None:
        refunded = uow.session.execute(
            select(WalletRefundRecord.id).where(WalletRefundRecord.card_no == card_no).limit(1)
        ).first()
        return 0 if refunded else None
