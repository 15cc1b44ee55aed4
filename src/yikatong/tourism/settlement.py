"""Settling ticket and pass revenue per venue (清分结算): a pass sold by one operator opens
several venues, so its revenue is split between them and each venue's operator is owed its
share; a per-venue statement shows a period's entries and revenue.

* **The split rule** is data on the product (`tourism_products.split`): by the settlement
  period's entries of the product's holders at each venue (`{"basis": "entries"}`), or fixed
  shares in basis points per venue (`{"basis": "fixed", "shares_bp": {…}}`). Integer fen by
  the largest remainder (`rules.split_fen`): the shares of a sale always sum to the sale.
* **What moves**: a wallet-paid pass's money sits in the clearing payable of the operator
  whose terminal took the purchase (`clearing:payable:<city>:<operator>`): each other
  operator's share moves from there to that operator's clearing payable. A bank-paid pass's
  money went straight into the seller's settlement account at the card's bank, never onto
  the platform: each other operator's share is recorded as owed by the seller
  (`tourism:due_from:<seller>`, asset) to the venue's operator (`tourism:payable:<operator>`,
  liability). A venue of the seller's own moves nothing.
* **One settlement per period** (both ends included, the period over, after the last one
  settled): one transaction, one journal, one audit record naming its share rows. The same
  period again returns the first settlement and changes nothing. A wallet sale whose purchase
  is not cleared yet waits (counted) and is split by the next settlement.
* **A refund reverses the split** (`reverse_shares`, in the refund's transaction, before the
  wallet credit takes the money off the payable).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from yikatong.core.actor import Actor
from yikatong.core.clock import CST, local_date
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.tourism import errors, rules
from yikatong.tourism.models import Entry, PassShare, Product, Settlement, Ticket, Venue
from yikatong.tourism.rules import Payment, ProductKind, TicketStatus

SPLIT_KIND = "tourism.pass_split"
REVERSAL_KIND = "tourism.pass_split_reversal"


@dataclass(frozen=True)
class SettlementView:
    """A settlement: its period, the passes split (`tickets`, `amount_fen`), what moved in the
    ledger, what waits for clearing, per product the basis, weights and fen per venue
    (`lines`), and per venue the fen (`venues`). `created` is False when the period had been
    settled already (nothing changed)."""

    id: int
    period_from: date
    period_to: date
    tickets: int
    amount_fen: Fen
    moved_fen: Fen
    waiting: int
    waiting_fen: Fen
    rows: int
    lines: tuple[dict, ...]
    venues: dict[str, Fen]
    journal: str | None
    settled_at: datetime
    settled_by: str
    created: bool


@dataclass(frozen=True)
class VenueStatement:
    """One venue's period (both ends included): entries by ground, its day tickets (sold for
    days in the period, by what was paid; refunds), its shares of the passes split by the
    settlements of periods inside this one and the shares reversed by refunds made in it."""

    venue_code: str
    operator_code: str
    period_from: date
    period_to: date
    entries: int
    entries_by_ground: dict[str, int]
    entries_offline: int
    exceptions: int
    day_tickets_sold: int
    day_ticket_sales_fen: Fen
    day_ticket_refunds: int
    day_ticket_refunds_fen: Fen
    pass_shares: int
    pass_shares_fen: Fen
    pass_reversals: int
    pass_reversals_fen: Fen
    revenue_fen: Fen
    settlements: tuple[int, ...]


# Instants bound to the database are converted to UTC: days at the ends of the calendar are
# clamped to ones whose instants convert (no record lies anywhere near them).
_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(9999, 12, 30)


def _start(day: date) -> datetime:
    """The first instant of `day` in China Standard Time."""
    return datetime.combine(min(max(day, _FIRST_DAY), _LAST_DAY), time(0), tzinfo=CST)


def _after(day: date) -> datetime:
    """The first instant after `day` (China Standard Time)."""
    return _start(min(day, _LAST_DAY - timedelta(days=1)) + timedelta(days=1))


# ---------------------------------------------------------------------------------------
# Settling


def settle(*, uow: UnitOfWork, actor: Actor, period_from: date, period_to: date) -> SettlementView:
    """Split the revenue of every pass sold up to `period_to` and not split yet (refunded ones
    are not split) between the venues it opens, by its product's rule with the period's
    entries; move the other operators' shares in the ledger. The card centre only. Commits."""
    from yikatong.tourism.service import STAFF

    if actor.role not in STAFF:
        raise Forbidden()
    if period_from > period_to:
        raise InvalidInput(reason_zh="结算期起日不可晚于止日", reason_en="the period cannot start after it ends")
    earlier = uow.session.execute(select(Settlement).where(
        Settlement.period_from == period_from, Settlement.period_to == period_to)).scalar_one_or_none()
    if earlier is not None:
        return _view(uow, earlier, created=False)
    today = local_date(uow.now())
    if period_to >= today:
        raise errors.SettlementPeriodOpen(period_to=period_to.isoformat(), today=today.isoformat())
    latest = uow.session.execute(select(func.max(Settlement.period_to))).scalar()
    if latest is not None and period_from <= latest:
        raise errors.SettlementOutOfOrder(latest=latest.isoformat())

    tickets = list(uow.session.execute(select(Ticket).where(
        Ticket.kind == ProductKind.PASS, Ticket.paid_fen > 0, Ticket.status != TicketStatus.REFUNDED,
        Ticket.sold_at < _after(period_to),
        Ticket.ticket_no.not_in(select(PassShare.ticket_no))).order_by(Ticket.id)).scalars())
    products = {p.code: p for p in uow.session.execute(select(Product).where(
        Product.code.in_({t.product_code for t in tickets}))).scalars()} if tickets else {}
    venue_ops = dict(uow.session.execute(select(Venue.code, Venue.operator_code)).all())
    entries = _pass_entries(uow, list(products), period_from, period_to)

    settlement = Settlement(period_from=period_from, period_to=period_to, tickets=0, amount_fen=0, moved_fen=0,
                            waiting=0, waiting_fen=0, lines=[], journal=None, settled_at=uow.now(),
                            settled_by=actor.user_id)
    uow.session.add(settlement)
    _flush(uow)
    weights_of = {code: rules.split_weights(p.split, p.venue_codes, entries.get(code, {}))
                  for code, p in products.items()}
    lines: dict[str, dict] = {code: {"product_code": code, "basis": (p.split or rules.DEFAULT_SPLIT)["basis"],
                                     "weights": weights_of[code], "tickets": 0, "amount_fen": 0,
                                     "shares_fen": dict.fromkeys(p.venue_codes, 0)}
                              for code, p in products.items()}
    moves: dict[tuple[str, str], Fen] = defaultdict(int)
    rows: list[PassShare] = []
    for ticket in tickets:
        source = _where_the_money_sits(uow, ticket)
        if source is None:  # a wallet sale not cleared yet: the next settlement splits it
            settlement.waiting += 1
            settlement.waiting_fen += ticket.paid_fen
            continue
        from_account, payable_of = source
        line = lines[ticket.product_code]
        for venue_code, fen in rules.split_fen(ticket.paid_fen, weights_of[ticket.product_code]).items():
            operator = venue_ops.get(venue_code, ticket.operator_code)
            to_account = payable_of(operator)
            if from_account != to_account and fen:
                moves[(from_account, to_account)] += fen
            rows.append(PassShare(settlement_id=settlement.id, ticket_no=ticket.ticket_no,
                                  product_code=ticket.product_code, venue_code=venue_code, operator_code=operator,
                                  payment=ticket.payment, share_fen=fen, from_account=from_account,
                                  to_account=to_account, reversed_at=None, reversed_by=None))
            line["shares_fen"][venue_code] += fen
        line["tickets"] += 1
        line["amount_fen"] += ticket.paid_fen
        settlement.tickets += 1
        settlement.amount_fen += ticket.paid_fen
    uow.session.add_all(rows)
    _flush(uow)  # a concurrent settlement that took the same passes or period: refused here
    settlement.lines = [line for line in lines.values() if line["tickets"]]
    settlement.moved_fen = sum(moves.values())
    if moves:
        settlement.journal = _post(uow, f"tourism:settlement:{settlement.id}", SPLIT_KIND, moves,
                                   memo=f"passes {period_from}..{period_to}", new_request=True)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_settlement.settled", entity_type="tourism_settlement",
              entity_id=str(settlement.id),
              after={"period_from": period_from.isoformat(), "period_to": period_to.isoformat(),
                     "rows": [r.id for r in rows], "tickets": settlement.tickets,
                     "amount_fen": settlement.amount_fen, "moved_fen": settlement.moved_fen,
                     "waiting": settlement.waiting, "waiting_fen": settlement.waiting_fen,
                     "journal": settlement.journal})
    uow.commit()
    return _view(uow, settlement, created=True)


def _flush(uow: UnitOfWork) -> None:
    """Flush; a unique index refusing (another settlement of the same period, or one that
    split the same passes first) is ConcurrentChange (409), never a half-made settlement."""
    from sqlalchemy.exc import IntegrityError

    from yikatong.core.errors import ConcurrentChange

    try:
        uow.session.flush()
    except IntegrityError as error:
        raise ConcurrentChange() from error


def _pass_entries(uow: UnitOfWork, product_codes: list[str], period_from: date,
                  period_to: date) -> dict[str, dict[str, int]]:
    """product → venue → entries on its passes in the period (flagged entries, which broke a
    rule, earn nothing)."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    if not product_codes:
        return found
    for product, venue, count in uow.session.execute(
            select(Ticket.product_code, Entry.venue_code, func.count())
            .join(Ticket, Ticket.ticket_no == Entry.reference)
            .where(Entry.ground == "pass", Entry.exception.is_(None), Entry.day >= period_from,
                   Entry.day <= period_to, Ticket.product_code.in_(product_codes))
            .group_by(Ticket.product_code, Entry.venue_code)).all():
        found[product][venue] = count
    return found


def _where_the_money_sits(uow: UnitOfWork, ticket: Ticket):
    """(the account holding the sale's money, operator → the account owed a venue's share), or
    None for a wallet sale whose purchase is not cleared yet."""
    from yikatong.clearing.rules import operator_payable
    from yikatong.tourism.service import _cleared_purchase
    from yikatong.tourism.terminal import clearing_operator

    if ticket.payment == Payment.WALLET:
        record = _cleared_purchase(uow, ticket)
        if record is None:
            return None
        return (operator_payable(record.city, record.operator),
                lambda operator: operator_payable(record.city, clearing_operator(operator)))
    seller = ticket.operator_code
    return (rules.seller_due_account(seller),
            lambda operator: rules.seller_due_account(seller) if operator == seller
            else rules.venue_payable_account(operator))


def _post(uow: UnitOfWork, request_id: str, kind: str, moves: dict[tuple[str, str], Fen], *, memo: str,
          new_request: bool = False) -> str | None:
    """One journal for the moves (from, to) → fen, netted per account: its request id (None
    when everything nets to zero)."""
    from yikatong.ledger import service as ledger

    net: dict[str, Fen] = defaultdict(int)
    for (from_account, to_account), fen in moves.items():
        net[from_account] += fen   # a debit: the payable owes less / the seller owes more
        net[to_account] -= fen     # a credit: the venue's operator is owed more
    legs = [(code, amount) for code, amount in sorted(net.items()) if amount]
    if not legs:
        return None
    for code in {code for code, _ in legs}:
        _open(uow, code)
    ledger.post(uow=uow, request_id=request_id, kind=kind, legs=legs, memo=memo[:200], new_request=new_request)
    return request_id


def _open(uow: UnitOfWork, code: str) -> None:
    from yikatong.clearing.settlement import _open_account
    from yikatong.ledger import service as ledger

    if code.startswith("tourism:due_from:"):
        ledger.open_account(uow=uow, code=code, kind="asset")
    elif code.startswith("tourism:payable:"):
        ledger.open_account(uow=uow, code=code, kind="liability")
    else:
        _open_account(uow, code)


def reverse_shares(uow: UnitOfWork, actor: Actor, ticket: Ticket) -> dict[str, Fen]:
    """A refunded pass's split undone, in the refund's transaction: the moves of its share
    rows posted back (one journal, `tourism:split_reversal:<ticket>`), the rows marked
    reversed. venue → fen reversed ({} when the pass was never split). Does not commit."""
    rows = list(uow.session.execute(select(PassShare).where(
        PassShare.ticket_no == ticket.ticket_no, PassShare.reversed_at.is_(None)).order_by(PassShare.id)).scalars())
    if not rows:
        return {}
    moves: dict[tuple[str, str], Fen] = defaultdict(int)
    now = uow.now()
    for row in rows:
        if row.from_account != row.to_account and row.share_fen:
            moves[(row.to_account, row.from_account)] += row.share_fen
        row.reversed_at, row.reversed_by = now, actor.user_id
    if moves:
        _post(uow, f"tourism:split_reversal:{ticket.ticket_no}", REVERSAL_KIND, moves,
              memo=f"refund {ticket.ticket_no}")
    uow.session.flush()
    return {row.venue_code: row.share_fen for row in rows}


# ---------------------------------------------------------------------------------------
# Reading


def settlements(*, uow: UnitOfWork, actor: Actor) -> list[SettlementView]:
    """Every settlement, newest first (the card centre)."""
    from yikatong.tourism.service import STAFF

    if actor.role not in STAFF:
        raise Forbidden()
    found = uow.session.execute(select(Settlement).order_by(Settlement.period_to.desc())).scalars()
    return [_view(uow, s, created=False) for s in found]


def _view(uow: UnitOfWork, s: Settlement, *, created: bool) -> SettlementView:
    per_venue: dict[str, Fen] = defaultdict(int)
    rows = 0
    for venue, fen, count in uow.session.execute(
            select(PassShare.venue_code, func.sum(PassShare.share_fen), func.count())
            .where(PassShare.settlement_id == s.id).group_by(PassShare.venue_code)).all():
        per_venue[venue] += int(fen or 0)
        rows += count
    return SettlementView(id=s.id, period_from=s.period_from, period_to=s.period_to, tickets=s.tickets,
                          amount_fen=s.amount_fen, moved_fen=s.moved_fen, waiting=s.waiting,
                          waiting_fen=s.waiting_fen, rows=rows, lines=tuple(s.lines),
                          venues=dict(sorted(per_venue.items())), journal=s.journal, settled_at=s.settled_at,
                          settled_by=s.settled_by, created=created)


def venue_statement(*, uow: UnitOfWork, actor: Actor, venue_code: str, period_from: date,
                    period_to: date) -> VenueStatement:
    """One venue's entries and revenue for a period (its operator's staff or the card centre)."""
    from yikatong.tourism.service import _venue_for

    venue = _venue_for(uow, actor, venue_code)
    if period_from > period_to:
        raise InvalidInput(reason_zh="起日不可晚于止日", reason_en="the period cannot start after it ends")
    by_ground: dict[str, int] = defaultdict(int)
    total = offline = flagged = 0
    for ground, off, exc, count in uow.session.execute(
            select(Entry.ground, Entry.offline, Entry.exception, func.count()).where(
                Entry.venue_code == venue_code, Entry.day >= period_from, Entry.day <= period_to)
            .group_by(Entry.ground, Entry.offline, Entry.exception)).all():
        by_ground[ground] += count
        total += count
        offline += count if off else 0
        flagged += count if exc is not None else 0
    sold = list(uow.session.execute(select(Ticket.paid_fen, Ticket.status).where(
        Ticket.venue_code == venue_code, Ticket.day >= period_from, Ticket.day <= period_to)).all())
    refunded = [paid for paid, status in sold if status == TicketStatus.REFUNDED]
    inside = select(Settlement.id).where(Settlement.period_from >= period_from, Settlement.period_to <= period_to)
    settled_ids = tuple(uow.session.execute(inside.order_by(Settlement.id)).scalars())
    shares, shares_fen = uow.session.execute(
        select(func.count(), func.coalesce(func.sum(PassShare.share_fen), 0)).where(
            PassShare.venue_code == venue_code, PassShare.settlement_id.in_(inside))).one()
    reversals, reversals_fen = uow.session.execute(
        select(func.count(), func.coalesce(func.sum(PassShare.share_fen), 0)).where(
            PassShare.venue_code == venue_code, PassShare.reversed_at >= _start(period_from),
            PassShare.reversed_at < _after(period_to))).one()
    sales = sum(paid for paid, _ in sold)
    return VenueStatement(
        venue_code=venue_code, operator_code=venue.operator_code, period_from=period_from, period_to=period_to,
        entries=total, entries_by_ground=dict(sorted(by_ground.items())), entries_offline=offline,
        exceptions=flagged, day_tickets_sold=len(sold), day_ticket_sales_fen=sales,
        day_ticket_refunds=len(refunded), day_ticket_refunds_fen=sum(refunded), pass_shares=int(shares),
        pass_shares_fen=int(shares_fen), pass_reversals=int(reversals), pass_reversals_fen=int(reversals_fen),
        revenue_fen=sales - sum(refunded) + int(shares_fen) - int(reversals_fen), settlements=settled_ids)
