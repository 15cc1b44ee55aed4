"""Shadow balances: the back office's balance of each of our cards, and the cards whose
balance as last seen in a record disagrees with it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select

from yikatong.clearing import fileformat
from yikatong.clearing.models import ClearedRecord, RecordStatus
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork


def shadow_balance(*, uow: UnitOfWork, asn: str) -> Fen | None:
    """The back office's balance of one of our cards: its completed top-ups (cleared, and those
    the top-up service recorded that clearing has not seen yet) less its cleared purchases.
    None when neither knows anything of the card."""
    from yikatong.transit import service as transit

    rows = uow.session.execute(
        select(ClearedRecord.counter_kind, ClearedRecord.counter, ClearedRecord.amount).where(
            ClearedRecord.asn == asn, ClearedRecord.status == RecordStatus.CLEARED)).all()
    loads = {counter: amount for kind, counter, amount in rows if kind == fileformat.ONLINE}
    for load in transit.load_records(uow=uow, asn=asn):
        loads.setdefault(load.counter, load.amount)
    if not rows and not loads:
        return None
    return sum(loads.values()) - sum(amount for kind, _counter, amount in rows if kind == fileformat.OFFLINE)


@dataclass(frozen=True)
class Disagreement:
    asn: str
    card_balance: Fen  # balance-after of the card's last cleared record
    shadow_balance: Fen
    last_seen: str  # the card time of that record

    @property
    def difference(self) -> Fen:
        return self.card_balance - self.shadow_balance


def balance_disagreements(*, uow: UnitOfWork) -> list[Disagreement]:
    """Our cards whose balance as last seen in a record differs from the shadow balance."""
    r = ClearedRecord
    live = and_(r.own_card.is_(True), r.status == RecordStatus.CLEARED)
    signed = func.sum(func.coalesce(_signed_amount(r), 0))
    shadows = dict(uow.session.execute(select(r.asn, signed).where(live).group_by(r.asn)).all())
    rank = func.row_number().over(partition_by=r.asn, order_by=(r.card_time.desc(), r.batch_id.desc(), r.seq.desc()))
    last = select(r.asn, r.balance_after, r.card_time, rank.label("rank")).where(live).subquery()
    found = []
    for asn, balance, card_time in uow.session.execute(
            select(last.c.asn, last.c.balance_after, last.c.card_time).where(last.c.rank == 1)):
        if balance != shadows.get(asn, 0):
            # the top-up service may know loads clearing has not seen yet
            shadow = shadow_balance(uow=uow, asn=asn)
            if shadow is not None and balance != shadow:
                found.append(Disagreement(asn, balance, shadow, card_time))
    return sorted(found, key=lambda d: d.asn)


def _signed_amount(r):
    return case((r.counter_kind == fileformat.ONLINE, r.amount), else_=-r.amount)
