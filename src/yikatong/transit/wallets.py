"""What a holder sees of their cards' transit wallets: the balance as the platform last saw it
(the card itself is the truth: it changes at every ride without the platform knowing until the
next contact or clearing), the top-up orders and a wallet refund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from yikatong.core.actor import Actor, Role
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.transit import refunds, service
from yikatong.transit.errors import WalletRefundNotFound
from yikatong.transit.models import TransitWallet


@dataclass(frozen=True)
class HolderWallet:
    card_no: str
    card_state: str
    asn: str
    seen: bool                    # the platform has read this card's wallet at least once
    state: str | None             # open | closed (None: never seen)
    balance: Fen | None           # at the last contact
    seen_at: datetime | None
    seen_channel: str | None
    expires_on: date | None
    orders: tuple[service.TopUpView, ...]
    refund: refunds.RefundView | None


def holder_wallets(*, uow: UnitOfWork, actor: Actor, orders_per_card: int = 20,
                   person_id: int | None = None) -> list[HolderWallet]:
    """The wallet of each of the holder's cards, newest card first (none for a login not tied
    to a person). `person_id`: the cards of a person the holder acts for (a guardian's child
    under 16, people.guardians.may_act_for); anyone else's reads as none."""
    from yikatong.cards.service import list_cards
    from yikatong.people.guardians import may_act_for

    person_id = actor.person_id if person_id is None else person_id
    if actor.role is not Role.HOLDER or not may_act_for(uow, actor, person_id):
        return []
    return [_wallet_of(uow, card.card_no, card.state, card.asn, orders_per_card)
            for card in list_cards(uow=uow, person_id=person_id)]


def _wallet_of(uow: UnitOfWork, card_no: str, card_state: str, asn: str, limit: int) -> HolderWallet:
    wallet = uow.session.execute(
        select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one_or_none()
    try:
        refund = refunds.get_refund(uow=uow, card_no=card_no)
    except WalletRefundNotFound:
        refund = None
    return HolderWallet(
        card_no=card_no, card_state=card_state, asn=asn, seen=wallet is not None,
        state=wallet.state if wallet else None,
        balance=wallet.last_balance if wallet else None,
        seen_at=wallet.last_seen_at if wallet else None,
        seen_channel=wallet.last_seen_channel if wallet else None,
        expires_on=wallet.expires_on if wallet else None,
        orders=tuple(service.list_top_ups(uow=uow, asn=asn, limit=limit)), refund=refund)
