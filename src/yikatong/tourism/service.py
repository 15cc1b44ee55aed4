"""Use cases of tourism and venues: operators, venues and products; selling day tickets and
real-name passes (from the card's bank account, or recording a T-Union wallet purchase made at
the venue's terminal); refunds of unused tickets; pass activation; what gates may admit
(`entitlements`), online admission (`admit`) and the entries gates upload (`record_entries`);
the settlement report per venue and day.

A ticket or pass belongs to the person, never to a card: a gate reading a replacement or
exchange card finds the same person and the same passes. Every change is one transaction with
one audit record (a batch of entries: one record naming its entries).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import as_utc, local_date
from yikatong.core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    checked_idempotency_key,
)
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.tourism import errors, rules
from yikatong.tourism.models import Entry, Gate, Product, SlotSales, Ticket, Venue, VenueOperator
from yikatong.tourism.protocols import Entitlement, GateEntry, Ground, Presented
from yikatong.tourism.rules import Payment, ProductKind, Refusal, TicketStatus

SYSTEM = Actor.system("tourism")
STAFF = frozenset({Role.ADMIN, Role.SYSTEM})


# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class OperatorView:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class VenueView:
    code: str
    operator_code: str
    name_zh: str
    name_en: str
    kind: str
    level: str
    district: str
    source: str
    free_categories: tuple[dict, ...]
    active: bool


@dataclass(frozen=True)
class ProductView:
    code: str
    operator_code: str
    kind: str
    name_zh: str
    name_en: str
    price_fen: Fen
    venue_codes: tuple[str, ...]
    slots: tuple[dict, ...]
    activation_months: int | None
    valid_months: int | None
    active: bool
    split: dict | None = None  # a pass's split rule between its venues (rules.split_problem)


@dataclass(frozen=True)
class GateView:
    gate_id: str
    venue_code: str
    name_zh: str
    name_en: str
    mode: str


@dataclass(frozen=True)
class TicketView:
    """A day ticket or pass as its holder, the venue and the card centre see it."""

    ticket_no: str
    kind: str
    product_code: str
    product_zh: str
    product_en: str
    operator_code: str
    person_id: int
    venue_codes: tuple[str, ...]
    day: date | None
    slot: str | None
    price_fen: Fen
    discount_fen: Fen
    paid_fen: Fen
    voucher_ref: str | None
    payment: str
    purchase_reference: str | None
    bank_reference: str | None
    status: str
    activate_by: date | None
    valid_from: date | None
    valid_until: date | None
    sold_at: datetime
    used_at: datetime | None
    refunded_at: datetime | None
    refund_reason: str | None


@dataclass(frozen=True)
class Decision:
    """The answer to a gate asking online: admitted on a ground, or refused with a reason."""

    admitted: bool
    entry_id: str
    venue_code: str
    person_id: int | None
    ground: str | None
    reference: str | None
    reason: str | None
    reason_zh: str | None
    reason_en: str | None


@dataclass(frozen=True)
class EntryView:
    """An entry at a venue as its staff see it (the card number masked to its last four)."""

    entry_id: str
    gate_id: str
    presented: str
    ground: str
    reference: str
    card_tail: str | None
    at: datetime
    offline: bool
    exception: str | None


@dataclass
class EntriesOutcome:
    """What an upload of gate entries did: recorded (new), duplicates (entry ids seen before,
    nothing changed), exceptions (entry id → the rule it broke; recorded all the same)."""

    recorded: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    exceptions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VenueDayReport:
    """One venue's day: sales (tickets sold for the day or, for passes, sold by its
    operator that day), refunds, entries by ground and the exceptions."""

    venue_code: str
    day: date
    tickets_sold: int
    sales_bank_fen: Fen
    sales_wallet_fen: Fen
    discount_fen: Fen
    refunds: int
    refunds_fen: Fen
    net_fen: Fen
    entries: int
    entries_by_ground: dict[str, int]
    entries_offline: int
    exceptions: int
    slots: tuple[dict, ...]
    # Of the refunds, those of wallet sales: credited back to the wallet (at the next contact)
    # and taken off the operator's clearing payable.
    wallet_refunds: int = 0
    wallet_refunds_fen: Fen = 0


# ---------------------------------------------------------------------------------------
# Scope


def _operator_scope(actor: Actor) -> str | None:
    """The operator code a venue login acts for; None for the card centre; else Forbidden."""
    if actor.role in STAFF:
        return None
    if actor.role is Role.VENUE_OPERATOR and actor.branch_code:
        return actor.branch_code
    raise Forbidden()


def _venue(uow: UnitOfWork, code: str) -> Venue:
    venue = uow.session.execute(select(Venue).where(Venue.code == code)).scalar_one_or_none()
    if venue is None:
        raise errors.VenueNotFound(venue_code=code)
    return venue


def _venue_for(uow: UnitOfWork, actor: Actor, code: str) -> Venue:
    venue = _venue(uow, code)
    scope = _operator_scope(actor)
    if scope is not None and scope != venue.operator_code:
        raise errors.VenueNotFound(venue_code=code)
    return venue


def _check_person(uow: UnitOfWork, actor: Actor, person_id: int) -> None:
    from yikatong.people.guardians import may_act_for

    if actor.role in STAFF:
        return
    if actor.role is Role.HOLDER and may_act_for(uow, actor, person_id):
        return
    raise errors.TicketNotFound(person_id=person_id)


# ---------------------------------------------------------------------------------------
# Operators, venues, products


def add_operator(*, uow: UnitOfWork, actor: Actor, code: str, name_zh: str, name_en: str) -> OperatorView:
    """The card centre registers a venue operator (idempotent by code). Commits."""
    if actor.role not in STAFF:
        raise Forbidden()
    existing = uow.session.execute(select(VenueOperator).where(VenueOperator.code == code)).scalar_one_or_none()
    if existing is not None and (existing.name_zh, existing.name_en) != (name_zh, name_en):
        raise errors.OperatorExists(operator_code=code)
    if existing is None:
        existing = VenueOperator(code=code, name_zh=name_zh, name_en=name_en, created_at=uow.now())
        uow.session.add(existing)
        uow.session.flush()
        uow.audit(actor=actor, action="tourism_operator.added", entity_type="tourism_operator",
                  entity_id=code, after={"name_zh": name_zh, "name_en": name_en})
        uow.commit()
    return OperatorView(code=existing.code, name_zh=existing.name_zh, name_en=existing.name_en)


def operators(*, uow: UnitOfWork) -> list[OperatorView]:
    return [OperatorView(code=o.code, name_zh=o.name_zh, name_en=o.name_en)
            for o in uow.session.execute(select(VenueOperator).order_by(VenueOperator.code)).scalars()]


def add_venue(*, uow: UnitOfWork, actor: Actor, code: str, operator_code: str, name_zh: str,
              name_en: str, kind: str, level: str, district: str, source: str,
              free_categories: list[dict]) -> VenueView:
    """The card centre registers a venue under an operator (idempotent by code). Commits."""
    if actor.role not in STAFF:
        raise Forbidden()
    if uow.session.execute(select(VenueOperator.id).where(VenueOperator.code == operator_code)).first() is None:
        raise errors.OperatorNotFound(operator_code=operator_code)
    existing = uow.session.execute(select(Venue).where(Venue.code == code)).scalar_one_or_none()
    if existing is not None:
        if existing.operator_code != operator_code:
            raise errors.VenueExists(venue_code=code)
        return _venue_view(existing)
    _check_categories(free_categories)
    venue = Venue(code=code, operator_code=operator_code, name_zh=name_zh, name_en=name_en,
                  kind=kind, level=level, district=district, source=source,
                  free_categories=list(free_categories), active=True, created_at=uow.now())
    uow.session.add(venue)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_venue.added", entity_type="tourism_venue", entity_id=code,
              after={"operator_code": operator_code, "level": level, "kind": kind,
                     "free_categories": list(free_categories)})
    uow.commit()
    return _venue_view(venue)


def set_free_categories(*, uow: UnitOfWork, actor: Actor, venue_code: str,
                        free_categories: list[dict]) -> VenueView:
    """The venue declares who enters free (e.g. seniors from 70, by age from the person's
    birth date). Commits."""
    venue = _venue_for(uow, actor, venue_code)
    _check_categories(free_categories)
    before = list(venue.free_categories)
    venue.free_categories = list(free_categories)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_venue.free_categories", entity_type="tourism_venue",
              entity_id=venue.code, before={"free_categories": before},
              after={"free_categories": list(free_categories)})
    uow.commit()
    return _venue_view(venue)


def _check_categories(categories: list[dict]) -> None:
    for c in categories:
        ok = (isinstance(c.get("code"), str) and c["code"]
              and (c.get("min_age") is not None or c.get("max_age") is not None)
              and all(isinstance(c.get(k), int | type(None)) and (c.get(k) or 0) >= 0
                      for k in ("min_age", "max_age")))
        if not ok:
            raise InvalidInput(reason_zh="免票类别须有代码及年龄下限或上限",
                               reason_en="a free category needs a code and a min_age or max_age")


def venues(*, uow: UnitOfWork, actor: Actor | None = None) -> list[VenueView]:
    query = select(Venue).order_by(Venue.code)
    if actor is not None and actor.role is Role.VENUE_OPERATOR:
        query = query.where(Venue.operator_code == (actor.branch_code or ""))
    return [_venue_view(v) for v in uow.session.execute(query).scalars()]


def get_venue(*, uow: UnitOfWork, venue_code: str) -> VenueView:
    return _venue_view(_venue(uow, venue_code))


def add_product(*, uow: UnitOfWork, actor: Actor, code: str, kind: str, name_zh: str, name_en: str,
                price_fen: Fen, venue_codes: list[str], slots: list[dict] | None = None,
                activation_months: int | None = None, valid_months: int | None = None,
                operator_code: str | None = None, split: dict | None = None) -> ProductView:
    """A venue operator (or the card centre for an operator) puts a product on sale: a day
    ticket for one of its venues with its time slots and their capacity, or a pass for some
    venues (3 months to activate, 1 year valid by default) with the rule splitting its
    revenue between them (`split`; by entries when not given: tourism/settlement.py).
    Idempotent by code. Commits."""
    scope = _operator_scope(actor)
    operator = scope or operator_code
    if not operator:
        raise InvalidInput(reason_zh="须指定运营单位", reason_en="an operator code is required")
    existing = uow.session.execute(select(Product).where(Product.code == code)).scalar_one_or_none()
    if existing is not None:
        if existing.operator_code != operator:
            raise errors.ProductNotFound(product_code=code)
        return _product_view(existing)
    if kind not in set(ProductKind):
        raise errors.ProductInvalid(why_zh="类型须为 day_ticket 或 pass", why_en="kind must be day_ticket or pass")
    if price_fen < 0:
        raise errors.ProductInvalid(why_zh="价格不可为负", why_en="the price cannot be negative")
    if not venue_codes or len(set(venue_codes)) != len(venue_codes):
        raise errors.ProductInvalid(why_zh="须列出景区（不重复）", why_en="list the venues, once each")
    for venue_code in venue_codes:
        venue = _venue(uow, venue_code)
        if kind == ProductKind.DAY_TICKET and venue.operator_code != operator:
            raise errors.WrongVenue(venue_code=venue_code)
    slots = list(slots or [])
    if kind == ProductKind.DAY_TICKET:
        if len(venue_codes) != 1:
            raise errors.ProductInvalid(why_zh="门票只适用于一个景区", why_en="a day ticket is for one venue")
        if not slots or any(not rules.valid_slot(str(s.get("slot", ""))) or not isinstance(s.get("capacity"), int)
                            or s["capacity"] <= 0 for s in slots):
            raise errors.ProductInvalid(why_zh="门票须有时段（HH:MM-HH:MM）及容量",
                                        why_en="a day ticket needs time slots (HH:MM-HH:MM) with a capacity")
        activation_months = valid_months = None
        if split is not None:
            raise errors.ProductInvalid(why_zh="门票只属于一个景区，无需分账", why_en="a day ticket is one venue's: no split")
    else:
        split = dict(split) if split is not None else dict(rules.DEFAULT_SPLIT)
        if (problem := rules.split_problem(split, venue_codes)) is not None:
            raise errors.ProductInvalid(why_zh=problem[0], why_en=problem[1])
        slots = []
        activation_months = 3 if activation_months is None else activation_months
        valid_months = 12 if valid_months is None else valid_months
        if activation_months <= 0 or valid_months <= 0:
            raise errors.ProductInvalid(why_zh="激活期与有效期须大于零", why_en="activation and validity must be above zero")
    product = Product(code=code, operator_code=operator, kind=kind, name_zh=name_zh, name_en=name_en,
                      price_fen=price_fen, venue_codes=list(venue_codes), slots=slots,
                      activation_months=activation_months, valid_months=valid_months, split=split,
                      active=True, created_at=uow.now(), created_by=actor.user_id)
    uow.session.add(product)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_product.added", entity_type="tourism_product", entity_id=code,
              after={"kind": kind, "operator_code": operator, "price_fen": price_fen,
                     "venue_codes": list(venue_codes), "slots": slots,
                     "activation_months": activation_months, "valid_months": valid_months,
                     "split": split})
    uow.commit()
    return _product_view(product)


def products(*, uow: UnitOfWork, venue_code: str | None = None, active_only: bool = True) -> list[ProductView]:
    query = select(Product).order_by(Product.code)
    if active_only:
        query = query.where(Product.active.is_(True))
    found = [_product_view(p) for p in uow.session.execute(query).scalars()]
    return [p for p in found if venue_code is None or venue_code in p.venue_codes]


GATE_MODES = ("online", "offline")


def add_gate(*, uow: UnitOfWork, actor: Actor, venue_code: str, gate_id: str, name_zh: str, name_en: str,
             mode: str) -> GateView:
    """Register a gate at a venue (its operator's staff or the card centre): the id it puts on
    its entries, its names, whether it asks online or decides from the allow-list. Idempotent
    by gate id; an id registered at another venue is GateTaken. Commits."""
    _venue_for(uow, actor, venue_code)
    gate_id = (gate_id or "").strip()
    if not 0 < len(gate_id) <= 32 or not gate_id.isprintable():
        raise InvalidInput(reason_zh="闸机编号应为 1–32 个可打印字符", reason_en="the gate id must be 1–32 printable characters")
    if mode not in GATE_MODES:
        raise InvalidInput(reason_zh="方式须为 online 或 offline", reason_en="the mode must be online or offline")
    existing = uow.session.execute(select(Gate).where(Gate.gate_id == gate_id)).scalar_one_or_none()
    if existing is not None:
        if existing.venue_code != venue_code:
            raise errors.GateTaken(gate_id=gate_id)
        return _gate_view(existing)
    gate = Gate(gate_id=gate_id, venue_code=venue_code, name_zh=name_zh, name_en=name_en, mode=mode,
                created_at=uow.now(), created_by=actor.user_id)
    uow.session.add(gate)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_gate.added", entity_type="tourism_gate", entity_id=gate_id,
              after={"venue_code": venue_code, "mode": mode, "name_zh": name_zh, "name_en": name_en})
    uow.commit()
    return _gate_view(gate)


def gates(*, uow: UnitOfWork, actor: Actor, venue_code: str) -> list[GateView]:
    """The gates registered at a venue."""
    _venue_for(uow, actor, venue_code)
    return [_gate_view(g) for g in uow.session.execute(
        select(Gate).where(Gate.venue_code == venue_code).order_by(Gate.gate_id)).scalars()]


def _gate_view(gate: Gate) -> GateView:
    return GateView(gate_id=gate.gate_id, venue_code=gate.venue_code, name_zh=gate.name_zh,
                    name_en=gate.name_en, mode=gate.mode)


def _product(uow: UnitOfWork, code: str) -> Product:
    product = uow.session.execute(select(Product).where(Product.code == code)).scalar_one_or_none()
    if product is None:
        raise errors.ProductNotFound(product_code=code)
    return product


# ---------------------------------------------------------------------------------------
# Selling


def sell(*, uow: UnitOfWork, actor: Actor, product_code: str, person_id: int, idempotency_key: str,
         day: date | None = None, slot: str | None = None, payment: str = Payment.BANK,
         confirmed: bool = False, purchase_reference: str | None = None,
         voucher_ref: str | None = None) -> TicketView:
    """Sell a day ticket (for `day` and `slot`) or a pass to the person.

    Paid from the bank account: the holder (or their guardian) confirms online, the card's bank
    is asked first (pay_from_account) and a refusal records nothing. Paid from the wallet: the
    venue's terminal made a T-Union purchase (cleared later with the venue operator as
    operator); its staff record the sale with the purchase's reference (one purchase pays one
    ticket). A slot's seats are taken by a conditional UPDATE under its capacity. The same key
    again returns the same ticket. Commits."""
    from yikatong.cards.protocols import BankGateway

    key = checked_idempotency_key(idempotency_key)
    earlier = uow.session.execute(select(Ticket).where(Ticket.idempotency_key == key)).scalar_one_or_none()
    if earlier is not None:
        if earlier.product_code != product_code or earlier.person_id != person_id:
            raise IdempotencyKeyReused()
        return _ticket_view(uow, earlier)
    product = _product(uow, product_code)
    if payment == Payment.BANK:
        if actor.role is not Role.HOLDER:
            raise Forbidden(zh="从银行账户支付须由持卡人本人（或其监护人）确认",
                            en="Only the holder (or their guardian) confirms a payment from the bank account")
        _check_person(uow, actor, person_id)
        if not confirmed:
            raise errors.ConfirmationRequired()
    elif payment == Payment.WALLET:
        scope = _operator_scope(actor)
        if scope is not None and scope != product.operator_code:
            raise errors.ProductNotFound(product_code=product_code)
        reference = (purchase_reference or "").strip()
        if not 0 < len(reference) <= 64:
            raise InvalidInput(reason_zh="须提供交通联合消费的交易参考号",
                               reason_en="the T-Union purchase reference is required")
        if uow.session.execute(select(Ticket.id).where(Ticket.purchase_reference == reference)).first():
            raise errors.PurchaseAlreadyUsed()
        from yikatong.people.service import person_basics

        person_basics(uow=uow, person_id=person_id)  # PersonNotFound
    else:
        raise InvalidInput(reason_zh="支付方式须为 bank 或 wallet", reason_en="payment must be bank or wallet")
    if not product.active:
        raise errors.ProductInactive()
    today = local_date(uow.now())
    price = product.price_fen
    discount = 0
    if product.kind == ProductKind.DAY_TICKET:
        day = day or today
        if not today <= day <= today + timedelta(days=rules.SALE_DAYS_AHEAD):
            raise errors.DayNotSellable(days=rules.SALE_DAYS_AHEAD)
        allowed = [s["slot"] for s in product.slots]
        if slot is None and len(allowed) == 1:
            slot = allowed[0]
        if slot not in allowed:
            raise errors.SlotUnknown(slot=slot, allowed=", ".join(allowed))
        capacity = next(s["capacity"] for s in product.slots if s["slot"] == slot)
        _take_seat(uow, product.venue_codes[0], day, slot, capacity)
        venue_code = product.venue_codes[0]
    else:
        day = slot = venue_code = None
    if voucher_ref:
        discount = _redeem_voucher(uow, actor, voucher_ref=voucher_ref, person_id=person_id,
                                   operator_code=product.operator_code, amount_fen=price, key=key)
    paid = price - discount
    card = None
    request_id = answer = None
    if payment == Payment.BANK and paid > 0:
        card = _paying_card(uow, person_id)
        request_id = rules.payment_request_id(key)
        answer = uow.get(BankGateway).pay_from_account(
            bank_code=card.bank_code, pan=card.pan, amount_fen=paid, request_id=request_id,
            payee_code=product.operator_code, authorisation=f"once:{key}"[:64])
        if not answer.posted:
            raise _refusal(answer)
    now = uow.now()
    ticket = Ticket(kind=product.kind, product_code=product.code, operator_code=product.operator_code,
                    person_id=person_id, venue_code=venue_code, day=day, slot=slot, price_fen=price,
                    discount_fen=discount, paid_fen=paid, voucher_ref=voucher_ref, payment=str(payment),
                    idempotency_key=key,
                    purchase_reference=(purchase_reference or "").strip() or None if payment == Payment.WALLET else None,
                    card_no=card.card_no if card else None, bank_code=card.bank_code if card else None,
                    pan=card.pan if card else None, bank_request_id=request_id,
                    bank_reference=answer.bank_reference if answer else None,
                    status=TicketStatus.VALID, sold_at=now, sold_by=actor.user_id,
                    activate_by=(rules.activate_by(today, product.activation_months)
                                 if product.kind == ProductKind.PASS else None))
    uow.session.add(ticket)
    uow.session.flush()
    ticket.ticket_no = rules.ticket_no(product.kind, now, ticket.id)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_ticket.sold", entity_type="tourism_ticket",
              entity_id=ticket.ticket_no,
              after={"product_code": product.code, "person_id": person_id, "day": _iso(day),
                     "slot": slot, "price_fen": price, "discount_fen": discount, "paid_fen": paid,
                     "payment": str(payment), "purchase_reference": ticket.purchase_reference,
                     "bank_reference": ticket.bank_reference, "voucher_ref": voucher_ref})
    uow.commit()
    return _ticket_view(uow, ticket)


def _take_seat(uow: UnitOfWork, venue_code: str, day: date, slot: str, capacity: int, seats: int = 1) -> None:
    """Take seats in a slot: a conditional UPDATE that passes only below capacity (the row is
    created first when missing). SlotSoldOut when full."""
    table = SlotSales.__table__
    exists = uow.session.execute(select(SlotSales.id).where(
        SlotSales.venue_code == venue_code, SlotSales.day == day, SlotSales.slot == slot)).first()
    if exists is None:
        from sqlalchemy.exc import IntegrityError

        try:
            with uow.session.begin_nested():
                uow.session.add(SlotSales(venue_code=venue_code, day=day, slot=slot, capacity=capacity, sold=0))
                uow.session.flush()
        except IntegrityError:
            pass  # a concurrent sale created it
    done = uow.session.execute(
        update(table).where(table.c.venue_code == venue_code, table.c.day == day, table.c.slot == slot,
                            table.c.sold + seats <= capacity)
        .values(sold=table.c.sold + seats, capacity=capacity)).rowcount
    if done != 1:
        raise errors.SlotSoldOut(day=day.isoformat(), slot=slot)


def _release_seat(uow: UnitOfWork, venue_code: str, day: date, slot: str) -> None:
    table = SlotSales.__table__
    uow.session.execute(update(table).where(
        table.c.venue_code == venue_code, table.c.day == day, table.c.slot == slot, table.c.sold > 0)
        .values(sold=table.c.sold - 1))


def slot_availability(*, uow: UnitOfWork, product_code: str, day: date) -> list[dict]:
    """For a day ticket: each slot with its capacity, seats sold and seats left on `day`."""
    product = _product(uow, product_code)
    if product.kind != ProductKind.DAY_TICKET:
        return []
    sold = dict(uow.session.execute(select(SlotSales.slot, SlotSales.sold).where(
        SlotSales.venue_code == product.venue_codes[0], SlotSales.day == day)).all())
    return [{"slot": s["slot"], "capacity": s["capacity"], "sold": sold.get(s["slot"], 0),
             "left": max(0, s["capacity"] - sold.get(s["slot"], 0))} for s in product.slots]


def _redeem_voucher(uow: UnitOfWork, actor: Actor, *, voucher_ref: str, person_id: int,
                    operator_code: str, amount_fen: Fen, key: str) -> Fen:
    """The discount a tourism voucher gives on this sale (discounts.redeem_voucher, in this
    transaction). Without the discounts domain a voucher cannot be taken."""
    try:
        from yikatong.discounts.service import redeem_voucher
    except ImportError:
        raise InvalidInput(reason_zh="暂不支持旅游消费券", reason_en="tourism vouchers are not available") from None
    return redeem_voucher(uow=uow, actor=actor, voucher_ref=voucher_ref, person_id=person_id,
                          venue_operator_code=operator_code, amount_fen=amount_fen,
                          idempotency_key=f"tourism:{key}")


# ---------------------------------------------------------------------------------------
# Refunds and pass activation


def refund(*, uow: UnitOfWork, actor: Actor, ticket_no: str, reason: str) -> TicketView:
    """Give an unused ticket back: a day ticket not used and not past its day, a pass never
    activated. A bank sale goes back through the card's bank (refund_to_account); a wallet sale
    is given back by the venue (the T-Union refund is its terminal's: the ticket is marked
    refunded and the report counts it). The holder, the venue's operator or the card centre.
    Commits."""
    from yikatong.cards.protocols import BankGateway

    if not (reason or "").strip():
        raise InvalidInput(reason_zh="请说明退票原因", reason_en="a reason is required")
    ticket = _ticket_for(uow, actor, ticket_no, lock=True)
    today = local_date(uow.now())
    if ticket.status != TicketStatus.VALID:
        raise errors.NotRefundable(why_zh=rules.STATUS_WORDS[TicketStatus(ticket.status)][0],
                                   why_en=rules.STATUS_WORDS[TicketStatus(ticket.status)][1])
    if ticket.kind == ProductKind.DAY_TICKET and ticket.day < today:
        raise errors.NotRefundable(why_zh="已过使用日期", why_en="its day has passed")
    if ticket.kind == ProductKind.PASS and ticket.valid_from is not None:
        raise errors.NotRefundable(why_zh="年卡已激活", why_en="the pass is activated")
    if ticket.payment == Payment.WALLET and actor.role is Role.HOLDER:
        raise errors.NotRefundable(why_zh="钱包支付的门票请到景区窗口退票",
                                   why_en="a ticket paid from the wallet is refunded at the venue's desk")
    bank_reference = wallet_order = None
    # A pass already split between its venues: the shares come back to where the money sits
    # first (the wallet credit below takes the whole price off that payable).
    from yikatong.tourism.settlement import reverse_shares

    split_reversed = reverse_shares(uow, actor, ticket)
    if ticket.payment == Payment.WALLET and ticket.paid_fen > 0:
        wallet_order = _credit_wallet(uow, actor, ticket)
    if ticket.payment == Payment.BANK and ticket.paid_fen > 0:
        answer = uow.get(BankGateway).refund_to_account(
            bank_code=ticket.bank_code, pan=ticket.pan, amount_fen=ticket.paid_fen,
            request_id=rules.refund_request_id(ticket.ticket_no),
            original_request_id=ticket.bank_request_id)
        if not answer.posted:
            raise _refusal(answer)
        bank_reference = answer.bank_reference
    if ticket.kind == ProductKind.DAY_TICKET:
        _release_seat(uow, ticket.venue_code, ticket.day, ticket.slot)
    if ticket.voucher_ref:
        _reverse_voucher(uow, actor, ticket)
    ticket.status = TicketStatus.REFUNDED
    ticket.refunded_at, ticket.refunded_by = uow.now(), actor.user_id
    ticket.refund_reason = reason.strip()[:200]
    ticket.refund_bank_reference = bank_reference
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_ticket.refunded", entity_type="tourism_ticket",
              entity_id=ticket.ticket_no, before={"status": TicketStatus.VALID}, reason=reason.strip(),
              after={"status": TicketStatus.REFUNDED, "paid_fen": ticket.paid_fen,
                     "payment": ticket.payment, "bank_reference": bank_reference,
                     "wallet_order": wallet_order, "split_reversed": split_reversed})
    uow.commit()
    return _ticket_view(uow, ticket)


def _cleared_purchase(uow: UnitOfWork, ticket: Ticket):
    """The cleared T-Union purchase that paid a wallet ticket (reference `TU-<asn>-<counter>`),
    or None while the venue terminal's file has not been cleared."""
    from yikatong.clearing import fileformat
    from yikatong.clearing.models import ClearedRecord, RecordStatus

    parts = (ticket.purchase_reference or "").split("-")
    if len(parts) != 3 or parts[0] != "TU" or not parts[2].isdigit():
        return None
    r = ClearedRecord
    return uow.session.execute(select(r).where(
        r.asn == parts[1], r.counter_kind == fileformat.OFFLINE, r.counter == int(parts[2]),
        r.own_card.is_(True), r.status == RecordStatus.CLEARED, r.amount == ticket.paid_fen)
        .order_by(r.batch_id, r.seq).limit(1)).scalar_one_or_none()


def wallet_refund_order_no(ticket_no: str) -> str:
    """The top-up order that gives a wallet ticket's money back (one per ticket)."""
    return f"VR{ticket_no}"[:32]


def _credit_wallet(uow: UnitOfWork, actor: Actor, ticket: Ticket) -> str:
    """A wallet sale's refund: a paid top-up order of payer kind `venue_refund`, written on the
    chip at the card's next online contact (as a transit rebate is: never refunded to a payer,
    never stale, waiting at the 1000 CNY cap), and a journal moving the fen from the venue
    operator's clearing payable (what clearing credited for the purchase) to the unwritten
    top-ups. Refused (409) until the purchase is cleared: before that the payable holds nothing
    for it and the books could not balance. Returns the order number."""
    from yikatong.clearing.rules import operator_payable
    from yikatong.clearing.settlement import _open_account
    from yikatong.ledger import service as ledger
    from yikatong.transit import rules as transit_rules
    from yikatong.transit.models import TopUpOrder, TransitWallet

    record = _cleared_purchase(uow, ticket)
    if record is None:
        raise errors.WalletPurchaseNotCleared(ticket_no=ticket.ticket_no)
    now = uow.now()
    order_no = wallet_refund_order_no(ticket.ticket_no)
    wallet = uow.session.execute(select(TransitWallet).where(TransitWallet.asn == record.asn)).scalar_one_or_none()
    uow.session.add(TopUpOrder(
        order_no=order_no, idempotency_key=f"venue_refund:{ticket.ticket_no}"[:64], request_hash="-" * 64,
        asn=record.asn, issuer_id=record.issuer_id, amount=ticket.paid_fen,
        channel=str(transit_rules.TopUpChannel.ONLINE), outlet_code=None,
        payer_kind=transit_rules.VENUE_REFUND_PAYER, payer_reference=f"门票退款 refund {ticket.ticket_no}"[:64],
        state=str(transit_rules.OrderState.PAID), balance_read=(wallet.last_balance or 0) if wallet else 0,
        acquirer="tourism", payment_reference=(ticket.purchase_reference or "")[:64], created_by=actor.user_id,
        created_by_user_id=None, created_at=now, paid_at=now, updated_at=now, version=1))
    payable = operator_payable(record.city, record.operator)
    _open_account(uow, payable)
    _open_account(uow, transit_rules.TOP_UP_UNWRITTEN)
    ledger.post(uow=uow, request_id=f"tourism:wallet_refund:{ticket.ticket_no}", kind="tourism.wallet_refund",
                legs=[(payable, ticket.paid_fen), (transit_rules.TOP_UP_UNWRITTEN, -ticket.paid_fen)],
                memo=f"{ticket.ticket_no} {ticket.purchase_reference}"[:200])
    uow.session.flush()
    return order_no


def _reverse_voucher(uow: UnitOfWork, actor: Actor, ticket: Ticket) -> None:
    try:
        from yikatong.discounts.service import reverse_voucher
    except ImportError:
        return
    reverse_voucher(uow=uow, actor=actor, voucher_ref=ticket.voucher_ref,
                    idempotency_key=f"tourism:{ticket.idempotency_key}")


def activate_pass(*, uow: UnitOfWork, actor: Actor, ticket_no: str, on: date | None = None) -> TicketView:
    """Activate a pass from `on` (today by default; its first entry does it too): valid one
    year from then. Refused after the activation window. Commits."""
    ticket = _ticket_for(uow, actor, ticket_no, lock=True)
    today = local_date(uow.now())
    on = on or today
    _activate(uow, actor, ticket, on)
    uow.commit()
    return _ticket_view(uow, ticket)


def _activate(uow: UnitOfWork, actor: Actor, ticket: Ticket, on: date) -> None:
    if ticket.kind != ProductKind.PASS:
        raise errors.PassNotActivatable(why_zh="不是年卡", why_en="not a pass")
    if ticket.status != TicketStatus.VALID or ticket.valid_from is not None:
        raise errors.PassNotActivatable(why_zh="已激活或已退", why_en="already activated or refunded")
    if on > ticket.activate_by or on < local_date(ticket.sold_at):
        raise errors.PassNotActivatable(why_zh=f"须在 {ticket.activate_by} 前激活",
                                        why_en=f"activate by {ticket.activate_by}")
    product = _product(uow, ticket.product_code)
    ticket.valid_from, ticket.valid_until = rules.validity(on, product.valid_months)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_pass.activated", entity_type="tourism_ticket",
              entity_id=ticket.ticket_no, before={"valid_from": None},
              after={"valid_from": ticket.valid_from.isoformat(), "valid_until": ticket.valid_until.isoformat()})


# ---------------------------------------------------------------------------------------
# Reading tickets


def tickets_of(*, uow: UnitOfWork, actor: Actor, person_id: int) -> list[TicketView]:
    """The person's tickets and passes, newest first (the holder's "tickets and passes")."""
    _check_person(uow, actor, person_id)
    query = select(Ticket).where(Ticket.person_id == person_id).order_by(Ticket.id.desc())
    return [_ticket_view(uow, t) for t in uow.session.execute(query).scalars()]


def get_ticket(*, uow: UnitOfWork, actor: Actor, ticket_no: str) -> TicketView:
    return _ticket_view(uow, _ticket_for(uow, actor, ticket_no))


def venue_tickets(*, uow: UnitOfWork, actor: Actor, venue_code: str, day: date) -> list[TicketView]:
    """The day tickets sold for a venue and day (the venue's desk)."""
    _venue_for(uow, actor, venue_code)
    query = select(Ticket).where(Ticket.venue_code == venue_code, Ticket.day == day).order_by(Ticket.id)
    return [_ticket_view(uow, t) for t in uow.session.execute(query).scalars()]


def _ticket_for(uow: UnitOfWork, actor: Actor, ticket_no: str, *, lock: bool = False) -> Ticket:
    query = select(Ticket).where(Ticket.ticket_no == ticket_no)
    if lock:
        query = query.with_for_update()
    ticket = uow.session.execute(query).scalar_one_or_none()
    if ticket is None:
        raise errors.TicketNotFound(ticket_no=ticket_no)
    if actor.role is Role.HOLDER:
        try:
            _check_person(uow, actor, ticket.person_id)
        except errors.TicketNotFound:
            raise errors.TicketNotFound(ticket_no=ticket_no) from None
    elif (scope := _operator_scope(actor)) is not None and scope != ticket.operator_code:
        raise errors.TicketNotFound(ticket_no=ticket_no)
    return ticket


# ---------------------------------------------------------------------------------------
# Gates: entitlements, online admission, uploaded entries


def valid_card_nos(uow: UnitOfWork, person_id: int) -> tuple[str, ...]:
    """The person's cards a gate may accept: in use and with no HR block in force (a lost,
    frozen, retired or cancelled card is absent). A replacement or exchange card is the same
    person's, so it carries the same passes."""
    from yikatong.cards.rules import CardState, HrStatus
    from yikatong.cards.service import read_cards_of

    return tuple(c.card_no for c in read_cards_of(uow=uow, person_id=person_id)
                 if c.state == CardState.IN_USE and c.hr_status == HrStatus.NORMAL)


def entitlements(uow: UnitOfWork, venue_code: str, day: date) -> list[Entitlement]:
    """Who may enter `venue_code` on `day` by a ticket or pass: every valid day ticket for the
    venue and day and every pass usable there that day (not yet activated but inside its
    window included: the first entry activates it), each with the person's valid cards (none:
    an e-card QR still names the person). Free categories are not listed person by person: the
    allow-list carries the venue's rules and the gate decides from the age it reads
    (`free_categories`). Set-based: one query for the tickets and passes, one for the cards
    of those people (and their blocks). Reads only."""
    from sqlalchemy import and_, or_

    from yikatong.tourism.allow_list import card_standings

    _venue(uow, venue_code)
    pass_products = [p.code for p in uow.session.execute(select(Product).where(
        Product.kind == ProductKind.PASS)).scalars() if venue_code in p.venue_codes]
    wanted = [and_(Ticket.kind == ProductKind.DAY_TICKET, Ticket.venue_code == venue_code, Ticket.day == day)]
    if pass_products:
        wanted.append(and_(Ticket.kind == ProductKind.PASS, Ticket.product_code.in_(pass_products)))
    rows = [t for t in uow.session.execute(select(Ticket).where(
        Ticket.status == TicketStatus.VALID, or_(*wanted)).order_by(Ticket.id)).scalars()
        if t.kind == ProductKind.DAY_TICKET or rules.pass_usable(
            status=t.status, activate_by_day=t.activate_by, valid_from=t.valid_from,
            valid_until=t.valid_until, day=day)]
    valid: dict[int, list[str]] = {}
    for card in card_standings(uow, {t.person_id for t in rows}):
        if card.refusal is None:
            valid.setdefault(card.person_id, []).append(card.card_no)
    found: list[Entitlement] = []
    for kind, ground in ((ProductKind.DAY_TICKET, Ground.TICKET), (ProductKind.PASS, Ground.PASS)):
        found.extend(Entitlement(person_id=t.person_id, card_nos=tuple(sorted(valid.get(t.person_id, ()))),
                                 ground=ground, reference=t.ticket_no, venue_code=venue_code, day=day,
                                 slot=t.slot if ground is Ground.TICKET else None)
                     for t in rows if t.kind == kind)
    return found


def free_categories(uow: UnitOfWork, venue_code: str) -> list[dict]:
    """The categories the venue admits free (a gate decides them offline from the birth date
    in the social security number it reads from the chip)."""
    return list(_venue(uow, venue_code).free_categories)


def admit(uow: UnitOfWork, actor: Actor, venue_code: str, gate_id: str, *, card_no: str | None = None,
          person_id: int | None = None, at: datetime | None = None, entry_id: str) -> Decision:
    """A gate asks online: may this card (tapped) or this person (e-card QR) enter now? On a
    yes the entry is recorded at once (a day ticket marked used, a pass not yet activated
    activated from today), one transaction and one audit record; a no changes nothing. The
    same entry_id again returns the first answer. Commits on a yes."""
    entry_id = _check_entry_id(entry_id)
    venue = _venue_for(uow, actor, venue_code)
    earlier = uow.session.execute(select(Entry).where(Entry.entry_id == entry_id)).scalar_one_or_none()
    if earlier is not None:
        return Decision(admitted=True, entry_id=entry_id, venue_code=earlier.venue_code,
                        person_id=earlier.person_id, ground=earlier.ground, reference=earlier.reference,
                        reason=None, reason_zh=None, reason_en=None)
    at = as_utc(at) if at is not None else uow.now()
    day = local_date(at)
    presented = Presented.CARD if card_no else Presented.ECARD
    if card_no:
        person_id = _person_of_card(uow, card_no)
        if person_id is None:
            return _refused(entry_id, venue_code, None, Refusal.CARD_NOT_VALID)
    elif person_id is None:
        raise InvalidInput(reason_zh="须提供卡号或电子社保卡人员", reason_en="a card number or an e-card person is required")
    candidates = _candidates(uow, person_id, venue_code)
    entered = _passes_entered(uow, venue_code, day, [c.ticket_no for c in candidates])
    free = rules.free_category(venue.free_categories, _birth_date(uow, person_id), day)
    free_entered = free is not None and _free_entered(uow, venue_code, day, person_id)
    chosen = rules.choose_ground(candidates, venue_code=venue_code, day=day, entered_today=entered,
                                 free=None if free_entered else free)
    if free_entered and chosen == Refusal.NO_ENTITLEMENT:  # one free entry per person per venue per day
        chosen = Refusal.ALREADY_ENTERED
    if isinstance(chosen, Refusal):
        return _refused(entry_id, venue_code, person_id, chosen)
    ground, reference = chosen
    _apply_entry(uow, actor, ground, reference, at, day)
    row = Entry(entry_id=entry_id, venue_code=venue_code, gate_id=gate_id[:32], person_id=person_id,
                card_no=card_no, presented=str(presented), ground=ground, reference=reference, at=at,
                day=day, offline=False, exception=None, recorded_at=uow.now(), recorded_by=actor.user_id)
    uow.session.add(row)
    uow.session.flush()
    uow.audit(actor=actor, action="tourism_entry.admitted", entity_type="tourism_entry", entity_id=entry_id,
              after={"venue_code": venue_code, "gate_id": gate_id, "person_id": person_id,
                     "ground": ground, "reference": reference, "presented": str(presented)})
    uow.commit()
    return Decision(admitted=True, entry_id=entry_id, venue_code=venue_code, person_id=person_id,
                    ground=ground, reference=reference, reason=None, reason_zh=None, reason_en=None)


def record_entries(uow: UnitOfWork, actor: Actor, entries: list[GateEntry]) -> EntriesOutcome:
    """Record the entries gates let through (uploaded later by offline gates). Idempotent by
    entry_id: one seen before changes nothing. An entry that broke a rule (a pass used twice
    at the venue that day, a refunded or used ticket, a card refused since …) is recorded all
    the same, flagged with the rule as its exception: the person went in. One transaction,
    one audit record naming the entries. Commits."""
    outcome = EntriesOutcome()
    if not entries:
        return outcome
    seen_ids = {e.entry_id for e in entries}
    known = set(uow.session.execute(select(Entry.entry_id).where(Entry.entry_id.in_(list(seen_ids)))).scalars())
    venue_cache: dict[str, Venue] = {}
    batch: set[str] = set()
    batch_free: set[tuple[str, date, int]] = set()  # free entries recorded by this upload
    for entry in entries:
        entry_id = _check_entry_id(entry.entry_id)
        if entry_id in known or entry_id in batch:
            outcome.duplicates.append(entry_id)
            continue
        batch.add(entry_id)
        if entry.venue_code not in venue_cache:
            venue_cache[entry.venue_code] = _venue_for(uow, actor, entry.venue_code)
        venue = venue_cache[entry.venue_code]
        at = as_utc(entry.at)
        day = local_date(at)
        person_id = entry.person_id
        if person_id is None and entry.ground == Ground.FREE:  # the gate decided by age alone
            person_id = _person_of_entry(uow, entry)
            entry = dataclasses.replace(entry, person_id=person_id)
        exception = _entry_exception(uow, venue, entry, day, batch_free)
        if entry.ground == Ground.FREE and person_id is not None:
            batch_free.add((entry.venue_code, day, person_id))
        if exception is None and entry.ground in (Ground.TICKET, Ground.PASS):
            _apply_entry(uow, actor, str(entry.ground), entry.reference, at, day)
        uow.session.add(Entry(entry_id=entry_id, venue_code=entry.venue_code, gate_id=entry.gate_id[:32],
                              person_id=entry.person_id, card_no=entry.card_no, presented=str(entry.presented),
                              ground=str(entry.ground), reference=entry.reference[:64], at=at, day=day,
                              offline=entry.offline, exception=exception, recorded_at=uow.now(),
                              recorded_by=actor.user_id))
        uow.session.flush()
        outcome.recorded.append(entry_id)
        if exception is not None:
            outcome.exceptions[entry_id] = exception
    if outcome.recorded:
        uow.audit(actor=actor, action="tourism_entries.recorded", entity_type="tourism_entry_batch",
                  entity_id=outcome.recorded[0],
                  after={"entries": outcome.recorded, "exceptions": outcome.exceptions,
                         "duplicates": len(outcome.duplicates)})
    uow.commit()
    return outcome


def _entry_exception(uow: UnitOfWork, venue: Venue, entry: GateEntry, day: date,
                     batch_free: set[tuple[str, date, int]] = frozenset()) -> str | None:
    if entry.card_no and entry.person_id is not None:
        if _person_of_card(uow, entry.card_no) != entry.person_id:
            return Refusal.CARD_NOT_VALID
    if entry.ground == Ground.FREE:
        if entry.card_no and entry.person_id is None:
            return Refusal.CARD_NOT_VALID
        free = entry.person_id is not None and rules.free_category(
            venue.free_categories, _birth_date(uow, entry.person_id), day) is not None
        if free and ((venue.code, day, entry.person_id) in batch_free
                     or _free_entered(uow, venue.code, day, entry.person_id)):
            return Refusal.ALREADY_ENTERED  # one free entry per person per venue per day
        return rules.check_entry(None, ground="free", venue_code=venue.code, day=day,
                                 entered_today=False, free_ok=free)
    ticket = uow.session.execute(select(Ticket).where(Ticket.ticket_no == entry.reference)).scalar_one_or_none()
    if ticket is not None and entry.person_id is not None and ticket.person_id != entry.person_id:
        ticket = None
    candidate = _candidate(uow, ticket) if ticket is not None else None
    entered = bool(ticket is not None and _passes_entered(uow, venue.code, day, [ticket.ticket_no]))
    found = rules.check_entry(candidate, ground=str(entry.ground), venue_code=venue.code, day=day,
                              entered_today=entered, free_ok=False)
    return str(found) if found is not None else None


def _apply_entry(uow: UnitOfWork, actor: Actor, ground: str, reference: str, at: datetime, day: date) -> None:
    """A day ticket becomes used; a pass not yet activated is activated from the entry's day."""
    ticket = uow.session.execute(select(Ticket).where(Ticket.ticket_no == reference)).scalar_one_or_none()
    if ticket is None:
        return
    if ground == Ground.TICKET:
        ticket.status, ticket.used_at = TicketStatus.USED, at
    elif ground == Ground.PASS and ticket.valid_from is None:
        _activate(uow, actor, ticket, day)
    uow.session.flush()


def _free_entered(uow: UnitOfWork, venue_code: str, day: date, person_id: int) -> bool:
    return uow.session.execute(select(Entry.id).where(
        Entry.venue_code == venue_code, Entry.day == day, Entry.ground == Ground.FREE,
        Entry.person_id == person_id).limit(1)).first() is not None


def _person_of_entry(uow: UnitOfWork, entry: GateEntry) -> int | None:
    """The person of a free entry a gate let in by age alone: the tapped card's holder (an
    accepted card only), else the e-card's."""
    if entry.card_no:
        return _person_of_card(uow, entry.card_no)
    if entry.ecard_no:
        from yikatong.ecard.models import Ecard

        return uow.session.execute(select(Ecard.person_id).where(Ecard.ecard_no == entry.ecard_no)).scalar()
    return None


def _passes_entered(uow: UnitOfWork, venue_code: str, day: date, references: list[str]) -> set[str]:
    if not references:
        return set()
    return set(uow.session.execute(select(Entry.reference).where(
        Entry.venue_code == venue_code, Entry.day == day, Entry.ground == Ground.PASS,
        Entry.reference.in_(references))).scalars())


def _candidates(uow: UnitOfWork, person_id: int, venue_code: str) -> list[rules.Candidate]:
    rows = uow.session.execute(select(Ticket).where(
        Ticket.person_id == person_id, Ticket.status != TicketStatus.REFUNDED).order_by(Ticket.id)).scalars()
    return [_candidate(uow, t) for t in rows]


def _candidate(uow: UnitOfWork, ticket: Ticket) -> rules.Candidate:
    venues_of = ((ticket.venue_code,) if ticket.kind == ProductKind.DAY_TICKET
                 else tuple(_product(uow, ticket.product_code).venue_codes))
    return rules.Candidate(ticket_no=ticket.ticket_no, kind=ticket.kind, status=ticket.status,
                           venue_codes=venues_of, day=ticket.day, activate_by=ticket.activate_by,
                           valid_from=ticket.valid_from, valid_until=ticket.valid_until)


def _person_of_card(uow: UnitOfWork, card_no: str) -> int | None:
    """The person whose card this is, if the card may be accepted (in use, no block)."""
    from yikatong.cards.rules import CardState, HrStatus
    from yikatong.cards.service import get_card
    from yikatong.core.errors import NotFound

    try:
        card = get_card(uow=uow, card_no=card_no)
    except NotFound:
        return None
    if card.state != CardState.IN_USE or card.hr_status != HrStatus.NORMAL:
        return None
    return card.person_id


def _birth_date(uow: UnitOfWork, person_id: int) -> date | None:
    from yikatong.core.errors import NotFound
    from yikatong.people.service import person_basics

    try:
        return person_basics(uow=uow, person_id=person_id).birth_date
    except NotFound:
        return None


def _refused(entry_id: str, venue_code: str, person_id: int | None, reason: Refusal) -> Decision:
    zh, en = rules.REFUSAL_WORDS[reason]
    return Decision(admitted=False, entry_id=entry_id, venue_code=venue_code, person_id=person_id,
                    ground=None, reference=None, reason=str(reason), reason_zh=zh, reason_en=en)


def venue_entries(*, uow: UnitOfWork, actor: Actor, venue_code: str, day: date,
                  limit: int = 200) -> list[EntryView]:
    """The entries at a venue on a day, newest first (card numbers as recorded)."""
    _venue_for(uow, actor, venue_code)
    rows = uow.session.execute(select(Entry).where(Entry.venue_code == venue_code, Entry.day == day)
                               .order_by(Entry.id.desc()).limit(limit)).scalars()
    return [EntryView(entry_id=e.entry_id, gate_id=e.gate_id, presented=e.presented, ground=e.ground,
                      reference=e.reference, card_tail=e.card_no[-4:] if e.card_no else None, at=e.at,
                      offline=e.offline, exception=e.exception) for e in rows]


# ---------------------------------------------------------------------------------------
# Settlement and report


def venue_day_report(*, uow: UnitOfWork, actor: Actor, venue_code: str, day: date) -> VenueDayReport:
    """Sales and entries of one venue for one day: the day tickets sold for that day (by bank
    and by wallet, discounts, refunds), the entries by ground, offline and flagged."""
    _venue_for(uow, actor, venue_code)
    tickets = list(uow.session.execute(select(Ticket).where(
        Ticket.venue_code == venue_code, Ticket.day == day)).scalars())
    bank = sum(t.paid_fen for t in tickets if t.payment == Payment.BANK)
    wallet = sum(t.paid_fen for t in tickets if t.payment == Payment.WALLET)
    refunded = [t for t in tickets if t.status == TicketStatus.REFUNDED]
    refunds_fen = sum(t.paid_fen for t in refunded)
    wallet_refunded = [t for t in refunded if t.payment == Payment.WALLET]
    by_ground: dict[str, int] = defaultdict(int)
    offline = flagged = total = 0
    for ground, off, exc, count in uow.session.execute(
            select(Entry.ground, Entry.offline, Entry.exception, func.count()).where(
                Entry.venue_code == venue_code, Entry.day == day)
            .group_by(Entry.ground, Entry.offline, Entry.exception)).all():
        by_ground[ground] += count
        total += count
        offline += count if off else 0
        flagged += count if exc is not None else 0
    slots = tuple({"slot": s.slot, "capacity": s.capacity, "sold": s.sold} for s in uow.session.execute(
        select(SlotSales).where(SlotSales.venue_code == venue_code, SlotSales.day == day)
        .order_by(SlotSales.slot)).scalars())
    return VenueDayReport(venue_code=venue_code, day=day, tickets_sold=len(tickets), sales_bank_fen=bank,
                          sales_wallet_fen=wallet, discount_fen=sum(t.discount_fen for t in tickets),
                          refunds=len(refunded), refunds_fen=refunds_fen,
                          net_fen=bank + wallet - refunds_fen, entries=total,
                          entries_by_ground=dict(sorted(by_ground.items())), entries_offline=offline,
                          exceptions=flagged, slots=slots, wallet_refunds=len(wallet_refunded),
                          wallet_refunds_fen=sum(t.paid_fen for t in wallet_refunded))


# ---------------------------------------------------------------------------------------
# Reference data


REFERENCE_OPERATORS = (
    ("CZ-DINO", "常州环球恐龙城旅游发展有限公司（参考）", "Changzhou Global Dinosaur City (reference)"),
    ("CZ-TMH", "天目湖旅游有限公司（参考）", "Tianmu Lake Tourism (reference)"),
    ("CZ-YANC", "春秋淹城旅游区（参考）", "Yancheng Spring and Autumn scenic area (reference)"),
    ("CZ-MUSEUM", "常州博物馆", "Changzhou Museum"),
    ("CZSMK", "常州市民卡有限公司（惠民旅游年卡）", "Changzhou citizen card company (city tourism pass)"),
)
SENIORS = {"code": "senior", "min_age": 70, "name_zh": "70 周岁以上老年人", "name_en": "seniors aged 70 and over"}
MINORS = {"code": "child", "max_age": 5, "name_zh": "6 周岁以下儿童", "name_en": "children under 6"}
LEVEL_SOURCE = "docs/domain-rules.md §7 (shared research 2026-11-26)"
REFERENCE_VENUES = (
    ("DINO", "CZ-DINO", "环球恐龙城·中华恐龙园", "Global Dinosaur City (China Dinosaur Park)", "scenic", "5A",
     "新北区", [SENIORS, MINORS]),
    ("TMH", "CZ-TMH", "天目湖旅游度假区", "Tianmu Lake resort", "scenic", "5A", "溧阳", [SENIORS, MINORS]),
    ("YANC", "CZ-YANC", "春秋淹城旅游区", "Yancheng Spring and Autumn scenic area", "scenic", "5A", "武进区",
     [SENIORS, MINORS]),
    ("CZMUS", "CZ-MUSEUM", "常州博物馆", "Changzhou Museum", "museum", "4A", "新北区",
     [{"code": "everyone", "min_age": 0, "name_zh": "免费开放（预约）", "name_en": "free for all (booking)"}]),
)
REFERENCE_PRODUCTS = (
    ("DINO-DAY", "CZ-DINO", ProductKind.DAY_TICKET, "中华恐龙园日票（参考价）", "Dinosaur Park day ticket (reference)",
     26000, ["DINO"], [{"slot": "09:00-12:00", "capacity": 3000}, {"slot": "12:00-17:00", "capacity": 3000}]),
    ("TMH-DAY", "CZ-TMH", ProductKind.DAY_TICKET, "天目湖山水园日票（参考价）", "Tianmu Lake Shanshui park day ticket (reference)",
     11000, ["TMH"], [{"slot": "08:00-17:00", "capacity": 5000}]),
    ("YANC-DAY", "CZ-YANC", ProductKind.DAY_TICKET, "春秋淹城日票（参考价）", "Yancheng day ticket (reference)",
     10000, ["YANC"], [{"slot": "09:00-17:00", "capacity": 4000}]),
    ("CZ-PASS-228", "CZSMK", ProductKind.PASS, "惠民旅游年卡（单人）", "City tourism pass (single)",
     22800, ["DINO", "TMH", "YANC", "CZMUS"], []),
)
# How each reference pass's revenue is split between its venues (example default, our own
# choice: the shared research (docs/domain-rules.md §7) gives the pass's price and venues but
# no settlement terms). By entries: each settlement period the passes sold are split in
# proportion to the visits the pass's holders made at each venue in the period, the way a
# city pass pays the sites that carried its visitors; a period without a visit splits equally.
REFERENCE_SPLITS = {"CZ-PASS-228": {"basis": "entries"}}


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> int:
    """The reference operators, venues and products (idempotent): how many were added."""
    added = 0
    for code, zh, en in REFERENCE_OPERATORS:
        if uow.session.execute(select(VenueOperator.id).where(VenueOperator.code == code)).first() is None:
            add_operator(uow=uow, actor=actor, code=code, name_zh=zh, name_en=en)
            added += 1
    for code, operator, zh, en, kind, level, district, free in REFERENCE_VENUES:
        if uow.session.execute(select(Venue.id).where(Venue.code == code)).first() is None:
            add_venue(uow=uow, actor=actor, code=code, operator_code=operator, name_zh=zh, name_en=en,
                      kind=kind, level=level, district=district, source=LEVEL_SOURCE, free_categories=free)
            added += 1
    for code, operator, kind, zh, en, price, venue_codes, slots in REFERENCE_PRODUCTS:
        if uow.session.execute(select(Product.id).where(Product.code == code)).first() is None:
            add_product(uow=uow, actor=actor, code=code, kind=kind, name_zh=zh, name_en=en, price_fen=price,
                        venue_codes=venue_codes, slots=slots, operator_code=operator,
                        split=REFERENCE_SPLITS.get(code))
            added += 1
    return added


# ---------------------------------------------------------------------------------------
# Internals


def _check_entry_id(entry_id: str) -> str:
    entry_id = (entry_id or "").strip()
    if not 0 < len(entry_id) <= 64 or not entry_id.isprintable():
        raise InvalidInput(reason_zh="入园记录号应为 1–64 个可打印字符",
                           reason_en="the entry id must be 1–64 printable characters")
    return entry_id


def _paying_card(uow: UnitOfWork, person_id: int):
    from yikatong.cards.service import current_card_for

    card = current_card_for(uow=uow, person_id=person_id)
    if card is None or not card.is_live:
        raise errors.NoLiveCard()
    return card


def _refusal(answer) -> errors.AccountRefused:
    return errors.AccountRefused(reason_zh=answer.reason_zh or answer.reason_code or "",
                                 reason_en=answer.reason_en or answer.reason_code or "",
                                 bank_reason=answer.reason_code)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _venue_view(venue: Venue) -> VenueView:
    return VenueView(code=venue.code, operator_code=venue.operator_code, name_zh=venue.name_zh,
                     name_en=venue.name_en, kind=venue.kind, level=venue.level, district=venue.district,
                     source=venue.source, free_categories=tuple(venue.free_categories), active=venue.active)


def _product_view(product: Product) -> ProductView:
    return ProductView(code=product.code, operator_code=product.operator_code, kind=product.kind,
                       name_zh=product.name_zh, name_en=product.name_en, price_fen=product.price_fen,
                       venue_codes=tuple(product.venue_codes), slots=tuple(product.slots),
                       activation_months=product.activation_months, valid_months=product.valid_months,
                       active=product.active,
                       split=(product.split or dict(rules.DEFAULT_SPLIT)) if product.kind == ProductKind.PASS
                       else None)


def _ticket_view(uow: UnitOfWork, ticket: Ticket) -> TicketView:
    product = _product(uow, ticket.product_code)
    return TicketView(
        ticket_no=ticket.ticket_no or "", kind=ticket.kind, product_code=ticket.product_code,
        product_zh=product.name_zh, product_en=product.name_en, operator_code=ticket.operator_code,
        person_id=ticket.person_id,
        venue_codes=(ticket.venue_code,) if ticket.venue_code else tuple(product.venue_codes),
        day=ticket.day, slot=ticket.slot, price_fen=ticket.price_fen, discount_fen=ticket.discount_fen,
        paid_fen=ticket.paid_fen, voucher_ref=ticket.voucher_ref, payment=ticket.payment,
        purchase_reference=ticket.purchase_reference, bank_reference=ticket.bank_reference,
        status=ticket.status, activate_by=ticket.activate_by, valid_from=ticket.valid_from,
        valid_until=ticket.valid_until, sold_at=ticket.sold_at, used_at=ticket.used_at,
        refunded_at=ticket.refunded_at, refund_reason=ticket.refund_reason)
