"""Use cases of discount campaigns (seed 三.8): a sponsor's campaigns and the merchants enrolled
in them, a till's redemption before it charges the card and its refund, tourism vouchers
(granted or claimed; `redeem_voucher` for the tourism sale), settlement statements (what the
sponsor pays each merchant per period) and the per-campaign report.

Every spend of a budget goes through budget.spend / budget.reverse (the one place it is charged,
atomically). Each use case is one transaction with its audit record; a refusal changes nothing.

Scope: a sponsor (Role.CAMPAIGN_SPONSOR) sees and runs the campaigns whose sponsor_code is its
branch_code; a merchant (Role.MERCHANT) redeems the campaigns it is enrolled in and reads its
own redemptions and statements; the card centre (admin) sees everything; a holder sees their
vouchers. Anything outside one's scope reads as not found."""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, update

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import CST, local_date
from yikatong.core.errors import Forbidden, InvalidInput, checked_idempotency_key
from yikatong.core.killpoints import killpoint
from yikatong.core.money import Fen
from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork
from yikatong.discounts import budget, errors, rules
from yikatong.discounts.models import (
    Campaign,
    CampaignMerchant,
    CampaignSpend,
    Settlement,
    Voucher,
)
from yikatong.discounts.rules import Kind, Status

SYSTEM = Actor.system("discounts")
STAFF = frozenset({Role.ADMIN, Role.SYSTEM})
SPONSORS = frozenset({Role.CAMPAIGN_SPONSOR, Role.ADMIN, Role.SYSTEM})


# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class CampaignView:
    id: int
    code: str
    sponsor_code: str
    kind: str
    kind_zh: str
    kind_en: str
    name_zh: str
    name_en: str
    budget_fen: Fen
    spent_fen: Fen
    left_fen: Fen
    starts_on: date
    ends_on: date
    status: str
    rule: dict
    eligibility: dict
    holder_limit_count: int | None
    holder_limit_fen: Fen | None
    merchants: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedemptionView:
    """A till's redemption: what the till takes off the order and charges the card for."""

    id: int
    campaign_code: str
    merchant_code: str | None
    order_ref: str | None
    order_fen: Fen | None
    discount_fen: Fen
    pay_fen: Fen | None
    card_tail: str
    status: str
    spent_at: datetime
    reversed_at: datetime | None
    settled: bool
    replayed: bool = False


@dataclass(frozen=True)
class VoucherView:
    code: str
    campaign_code: str
    campaign_name_zh: str
    campaign_name_en: str
    person_id: int
    face_fen: Fen
    min_order_fen: Fen
    operator_codes: tuple[str, ...]
    status: str
    issued_at: datetime
    valid_until: date
    redeemed_at: datetime | None
    redeemed_operator: str | None
    redeemed_key: str | None


@dataclass(frozen=True)
class SettlementView:
    id: int
    campaign_code: str
    sponsor_code: str
    payee_code: str
    period: str
    redemptions: int
    redeemed_fen: Fen
    reversals: int
    reversed_fen: Fen
    net_fen: Fen
    status: str
    created_at: datetime
    paid_at: datetime | None
    payment_reference: str | None


@dataclass
class CampaignReport:
    campaign: CampaignView
    redemptions: int = 0
    reversed: int = 0
    redeemed_fen: Fen = 0
    reversed_fen: Fen = 0
    holders: int = 0
    by_day: list[tuple[date, int, Fen]] = field(default_factory=list)       # day, count, fen
    by_payee: list[tuple[str, int, Fen]] = field(default_factory=list)      # payee, count, fen
    vouchers: dict[str, int] = field(default_factory=dict)                  # status -> count
    settled_fen: Fen = 0
    paid_fen: Fen = 0


# ---------------------------------------------------------------------------------------
# Campaigns


def create_campaign(*, uow: UnitOfWork, actor: Actor, code: str, kind: str, name_zh: str,
                    name_en: str, budget_fen: Fen, starts_on: date, ends_on: date, rule: dict,
                    eligibility: dict | None = None, holder_limit_count: int | None = None,
                    holder_limit_fen: Fen | None = None, sponsor_code: str | None = None) -> CampaignView:
    """A sponsor opens a campaign (its own code as sponsor; the card centre names the sponsor).
    The same code with the same content again returns it (a retry). Commits."""
    sponsor = _sponsor_of(actor, sponsor_code)
    code = (code or "").strip()
    if not 0 < len(code) <= 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(reason_zh="活动编号应为 1–32 位字母、数字或 - _",
                           reason_en="the code must be 1–32 letters, digits, - or _")
    rule = rules.check_rule(kind, rule or {})
    eligibility = rules.check_eligibility_rule(eligibility or {}, card_kinds=card_kinds(uow=uow))
    if not 0 < budget_fen <= rules.MAX_BUDGET_FEN:
        raise InvalidInput(reason_zh="预算须大于零", reason_en="the budget must be above zero")
    if ends_on < starts_on:
        raise InvalidInput(reason_zh="结束日不可早于开始日", reason_en="the end is before the start")
    for limit in (holder_limit_count, holder_limit_fen):
        if limit is not None and limit <= 0:
            raise InvalidInput(reason_zh="每人限额须大于零", reason_en="a per-holder limit must be above zero")
    existing = uow.session.execute(select(Campaign).where(Campaign.code == code)).scalar_one_or_none()
    if existing is not None:
        same = (existing.sponsor_code, existing.kind, existing.budget_fen, existing.starts_on,
                existing.ends_on, existing.rule, existing.eligibility) == (
            sponsor, str(kind), budget_fen, starts_on, ends_on, rule, eligibility)
        if not same:
            raise errors.CampaignExists(code=code)
        return _campaign_view(uow, existing)
    campaign = Campaign(code=code, sponsor_code=sponsor, kind=str(kind), name_zh=name_zh[:200],
                        name_en=name_en[:200], budget_fen=budget_fen, spent_fen=0,
                        starts_on=starts_on, ends_on=ends_on, status=Status.ACTIVE, rule=rule,
                        eligibility=eligibility, holder_limit_count=holder_limit_count,
                        holder_limit_fen=holder_limit_fen, created_at=uow.now(),
                        created_by=actor.user_id)
    uow.session.add(campaign)
    uow.session.flush()
    uow.audit(actor=actor, action="campaign.created", entity_type="discount_campaign",
              entity_id=code, after={"sponsor_code": sponsor, "kind": str(kind),
                                     "budget_fen": budget_fen, "starts_on": starts_on.isoformat(),
                                     "ends_on": ends_on.isoformat(), "rule": rule,
                                     "eligibility": eligibility,
                                     "holder_limit_count": holder_limit_count,
                                     "holder_limit_fen": holder_limit_fen})
    uow.commit()
    return _campaign_view(uow, campaign)


def card_kinds(*, uow: UnitOfWork) -> list[str]:
    """The kinds a card can be, for eligibility (`card_kinds`): every card the registry holds is
    a third-generation social security card co-branded with one of the partner banks, and that
    bank (cards.Card.bank_code) is what tells one kind of card from another. (A card's `kind`
    in the registry, first/replacement/exchange, says how it was issued; a plain city transit
    card is not in the registry and gets no discount.)"""
    from yikatong.directory.service import list_banks

    return [bank.code for bank in list_banks(uow=uow)]


def set_status(*, uow: UnitOfWork, actor: Actor, code: str, status: str, reason: str = "") -> CampaignView:
    """Pause, resume or close a campaign (closed is final). Commits."""
    campaign = _campaign_for_sponsor(uow, actor, code)
    try:
        wanted = Status(status)
    except ValueError:
        raise InvalidInput(reason_zh=f"未知状态 {status}", reason_en=f"unknown status {status}") from None
    if campaign.status == Status.CLOSED and wanted != Status.CLOSED:
        raise errors.CampaignNotActive(status=campaign.status)
    if campaign.status != wanted:
        before = campaign.status
        uow.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(status=str(wanted))
                            .execution_options(synchronize_session=False))
        uow.audit(actor=actor, action="campaign.status", entity_type="discount_campaign",
                  entity_id=campaign.code, before={"status": before}, after={"status": str(wanted)},
                  reason=reason or None)
        uow.commit()
        uow.session.refresh(campaign)
    return _campaign_view(uow, campaign)


def enrol_merchant(*, uow: UnitOfWork, actor: Actor, code: str, merchant_code: str,
                   name_zh: str = "", name_en: str = "") -> CampaignView:
    """Enrol a merchant (or a venue operator, for vouchers) in a campaign: its tills may then
    redeem it. Idempotent. Commits."""
    campaign = _campaign_for_sponsor(uow, actor, code)
    if campaign.kind == Kind.TRANSIT_REBATE:
        raise errors.WrongKind(kind_zh="商户满减或旅游券活动", kind_en="merchant or voucher campaign")
    merchant_code = (merchant_code or "").strip()
    if not 0 < len(merchant_code) <= 32:
        raise InvalidInput(reason_zh="商户编号应为 1–32 个字符", reason_en="the merchant code must be 1–32 characters")
    row = _enrolment(uow, campaign.id, merchant_code)
    if row is None:
        row = CampaignMerchant(campaign_id=campaign.id, merchant_code=merchant_code,
                               name_zh=(name_zh or merchant_code)[:200],
                               name_en=(name_en or merchant_code)[:200], enrolled_at=uow.now(),
                               enrolled_by=actor.user_id)
        uow.session.add(row)
        uow.session.flush()
        uow.audit(actor=actor, action="campaign.merchant_enrolled", entity_type="discount_campaign",
                  entity_id=campaign.code, after={"merchant_code": merchant_code})
        uow.commit()
    return _campaign_view(uow, campaign)


def campaigns(*, uow: UnitOfWork, actor: Actor, status: str | None = None) -> list[CampaignView]:
    """The campaigns in the actor's scope: a sponsor its own, a merchant those it is enrolled
    in, the card centre all, a holder those running (to claim vouchers)."""
    query = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.code)
    if actor.role is Role.CAMPAIGN_SPONSOR:
        query = query.where(Campaign.sponsor_code == (actor.branch_code or ""))
    elif actor.role in (Role.MERCHANT, Role.VENUE_OPERATOR):
        query = query.where(Campaign.id.in_(select(CampaignMerchant.campaign_id).where(
            CampaignMerchant.merchant_code == (actor.branch_code or ""))))
    elif actor.role is Role.HOLDER:
        query = query.where(Campaign.status == Status.ACTIVE)
    elif actor.role not in STAFF:
        raise Forbidden()
    if status:
        query = query.where(Campaign.status == status)
    return [_campaign_view(uow, c) for c in uow.session.execute(query).scalars()]


def campaign(*, uow: UnitOfWork, actor: Actor, code: str) -> CampaignView:
    return _campaign_view(uow, _campaign_in_scope(uow, actor, code))


# ---------------------------------------------------------------------------------------
# The till: redeem before charging the card, reverse on refund


def redeem(*, uow: UnitOfWork, actor: Actor, campaign_code: str, card_no: str, order_fen: Fen,
           idempotency_key: str, order_ref: str | None = None) -> RedemptionView:
    """A merchant's till asks, before it charges the card, for the campaign's 满减 on an order:
    the card's holder must be eligible and within the per-holder limit, the order must reach a
    threshold, and the budget must hold the discount — all checked and spent atomically
    (budget.spend). The same idempotency key again answers the first redemption (a retried
    request after a timeout). The till then charges the card `pay_fen`. Commits."""
    merchant = _merchant_of(actor)
    key = f"till:{merchant}:{checked_idempotency_key(idempotency_key)}"
    done = _spend_by_key(uow, key)
    if done is not None:
        if (done.order_fen, done.reference) != (order_fen, order_ref) or done.payee_code != merchant:
            from yikatong.core.errors import IdempotencyKeyReused
            raise IdempotencyKeyReused(key=idempotency_key)
        return _redemption_view(uow, done, replayed=True)
    if not 0 < order_fen <= rules.MAX_BUDGET_FEN:
        raise InvalidInput(reason_zh="订单金额须大于零", reason_en="the order must be above zero")
    campaign = _campaign_by_code(uow, campaign_code)
    if campaign.kind != Kind.SPEND_REDUCTION:
        raise errors.WrongKind(kind_zh="消费满减活动", kind_en="spend-threshold reduction")
    if _enrolment(uow, campaign.id, merchant) is None:
        raise errors.MerchantNotEnrolled()
    person_id, card = _holder_of_card(uow, card_no)
    _check_eligible(uow, campaign, person_id, card)
    discount = rules.reduction_for(campaign.rule, order_fen)
    if discount <= 0:
        threshold = campaign.rule["tiers"][0][0]
        raise errors.BelowThreshold(threshold_yuan=f"{threshold / 100:.2f}")
    spent = budget.spend(uow, actor, campaign_id=campaign.id, person_id=person_id,
                         amount_fen=discount, idempotency_key=key, source="till",
                         card_no=card.card_no, payee_code=merchant, reference=order_ref,
                         order_fen=order_fen)
    killpoint("discounts.redeem.spent")  # the budget charged in the transaction, not committed
    uow.commit()
    killpoint("discounts.redeem.committed")  # committed, the till has no answer yet
    return _redemption_view(uow, _spend_row(uow, spent.id), replayed=spent.replayed)


def refund(*, uow: UnitOfWork, actor: Actor, redemption_id: int, reason: str) -> RedemptionView:
    """The merchant refunds the order: the discount goes back to the budget and the holder's
    limit (budget.reverse). A redemption already settled is taken off the sponsor's next
    statement to that merchant. Idempotent. Commits."""
    row = _spend_row(uow, redemption_id)
    if row.source != "till" or (actor.role not in STAFF and row.payee_code != _merchant_of(actor)):
        raise errors.SpendNotFound(redemption_id=redemption_id)
    if not (reason or "").strip():
        raise InvalidInput(reason_zh="请说明退款原因", reason_en="a reason is required")
    budget.reverse(uow, actor, spend_id=row.id, reason=reason.strip())
    uow.commit()
    return _redemption_view(uow, _spend_row(uow, redemption_id))


def redemptions(*, uow: UnitOfWork, actor: Actor, campaign_code: str | None = None,
                limit: int = 100, offset: int = 0) -> list[RedemptionView]:
    """A merchant's own redemptions (newest first); a sponsor's campaigns'; all for staff."""
    query = select(CampaignSpend).where(CampaignSpend.source == "till").order_by(
        CampaignSpend.id.desc()).limit(limit).offset(offset)
    if actor.role is Role.MERCHANT:
        query = query.where(CampaignSpend.payee_code == _merchant_of(actor))
    elif actor.role is Role.CAMPAIGN_SPONSOR:
        query = query.where(CampaignSpend.campaign_id.in_(select(Campaign.id).where(
            Campaign.sponsor_code == (actor.branch_code or ""))))
    elif actor.role not in STAFF:
        raise Forbidden()
    if campaign_code:
        query = query.where(CampaignSpend.campaign_id == _campaign_in_scope(uow, actor, campaign_code).id)
    return [_redemption_view(uow, row) for row in uow.session.execute(query).scalars()]


# ---------------------------------------------------------------------------------------
# Tourism vouchers


def grant_voucher(*, uow: UnitOfWork, actor: Actor, campaign_code: str, person_id: int,
                  idempotency_key: str) -> VoucherView:
    """The sponsor grants a holder a voucher (the face value is spent from the budget now; an
    unused voucher that expires gives it back). Idempotent by key. Commits."""
    campaign = _campaign_for_sponsor(uow, actor, campaign_code)
    view = _issue_voucher(uow, actor, campaign, person_id, f"voucher:{campaign.id}:{checked_idempotency_key(idempotency_key)}",
                          check_eligible=False)
    uow.commit()
    return view


def claim_voucher(*, uow: UnitOfWork, actor: Actor, campaign_code: str, idempotency_key: str,
                  person_id: int | None = None) -> VoucherView:
    """A holder claims a voucher of a running campaign (eligibility and the per-holder limit
    apply). Idempotent by key. Commits."""
    if actor.role is not Role.HOLDER:
        raise Forbidden()
    person = person_id or actor.person_id
    from yikatong.people.guardians import may_act_for
    if person is None or not may_act_for(uow, actor, person):
        raise errors.CampaignNotFound(code=campaign_code)
    campaign = _campaign_by_code(uow, campaign_code)
    view = _issue_voucher(uow, actor, campaign, person,
                          f"voucher:{campaign.id}:{person}:{checked_idempotency_key(idempotency_key)}", check_eligible=True)
    uow.commit()
    return view


def vouchers_of(*, uow: UnitOfWork, actor: Actor, person_id: int | None = None) -> list[VoucherView]:
    """A holder's vouchers (newest first); staff any person's."""
    person = person_id or actor.person_id
    if actor.role is Role.HOLDER:
        from yikatong.people.guardians import may_act_for
        if person is None or not may_act_for(uow, actor, person):
            return []
    elif actor.role not in STAFF:
        raise Forbidden()
    rows = uow.session.execute(select(Voucher, Campaign).join(Campaign, Campaign.id == Voucher.campaign_id)
                               .where(Voucher.person_id == person).order_by(Voucher.id.desc())).all()
    return [_voucher_view(v, c) for v, c in rows]


def redeem_voucher(*, uow: UnitOfWork, actor: Actor, voucher_ref: str, person_id: int,
                   venue_operator_code: str, amount_fen: Fen, idempotency_key: str) -> Fen:
    """For the tourism sale (tourism.service.sell, in its transaction): the discount the
    holder's voucher `voucher_ref` gives on a ticket of `amount_fen` sold by the venue operator
    `venue_operator_code` — whom the sponsor pays at settlement. Returns the discount (the
    voucher's face value). Does NOT commit: the sale commits it with the ticket, or rolls both
    back.

    Atomic: the voucher turns from issued to redeemed by a conditional UPDATE, so two desks
    never take one voucher twice. Idempotent: the same voucher redeemed again under the same
    `idempotency_key` answers the same discount and changes nothing.

    Refuses with VoucherNotFound a voucher that is not the person's; with VoucherUnusable one
    already used, expired, at an operator not enrolled in its campaign (or not among its
    rule's operator_codes), or a ticket below max(face value, min_order_fen)."""
    key = (idempotency_key or "").strip()[:160]
    voucher = uow.session.execute(select(Voucher).where(Voucher.code == (voucher_ref or "").strip()[:32])
                                  ).scalar_one_or_none()
    if voucher is None or voucher.person_id != person_id:
        raise errors.VoucherNotFound(voucher_ref=voucher_ref)
    if voucher.status == "redeemed" and voucher.redeemed_key == key:
        return voucher.face_fen
    campaign = uow.session.get(Campaign, voucher.campaign_id)
    today = local_date(uow.now())
    if voucher.status != "issued":
        raise errors.VoucherUnusable(reason_zh="已使用或已失效", reason_en="already used or no longer valid")
    if today > voucher.valid_until:
        raise errors.VoucherUnusable(reason_zh="已过有效期", reason_en="expired")
    if (_enrolment(uow, campaign.id, venue_operator_code) is None
            or (voucher.operator_codes and venue_operator_code not in voucher.operator_codes)):
        raise errors.VoucherUnusable(reason_zh="不适用于该景区或场馆", reason_en="not valid at this venue")
    least = max(voucher.face_fen, voucher.min_order_fen)
    if amount_fen < least:
        raise errors.VoucherUnusable(reason_zh=f"票价须满 {least / 100:.2f} 元",
                                     reason_en=f"the ticket must cost at least {least / 100:.2f} CNY")
    changed = uow.session.execute(
        update(Voucher).where(Voucher.id == voucher.id, Voucher.status == "issued")
        .values(status="redeemed", redeemed_at=uow.now(), redeemed_operator=venue_operator_code[:32],
                redeemed_key=key)
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        raise errors.VoucherUnusable(reason_zh="已使用", reason_en="already used")
    uow.session.execute(update(CampaignSpend).where(CampaignSpend.id == voucher.spend_id)
                        .values(payee_code=venue_operator_code[:32], reference=key[:64], order_fen=amount_fen)
                        .execution_options(synchronize_session=False))
    uow.audit(actor=actor, action="voucher.redeemed", entity_type="discount_voucher",
              entity_id=voucher.code, before={"status": "issued"},
              after={"status": "redeemed", "payee_code": venue_operator_code, "key": key,
                     "amount_fen": amount_fen, "face_fen": voucher.face_fen})
    return voucher.face_fen


def reverse_voucher(*, uow: UnitOfWork, actor: Actor, voucher_ref: str, idempotency_key: str) -> VoucherView:
    """For the tourism refund of a ticket bought with a voucher (in its transaction; does NOT
    commit). Not yet on a statement: the voucher is the holder's again (issued, until its own
    last day) and the sponsor owes the operator nothing for it. Already stated (the sponsor paid
    or will pay the operator for it): its spend is reversed — the face value goes back to the
    budget and the next statement to that operator takes it off — and the voucher is void.
    Idempotent: a voucher not redeemed under `idempotency_key` is left as it is."""
    key = (idempotency_key or "").strip()[:160]
    voucher = uow.session.execute(select(Voucher).where(Voucher.code == (voucher_ref or "").strip()[:32])
                                  ).scalar_one_or_none()
    if voucher is None:
        raise errors.VoucherNotFound(voucher_ref=voucher_ref)
    campaign = uow.session.get(Campaign, voucher.campaign_id)
    if voucher.status != "redeemed" or voucher.redeemed_key != key:
        return _voucher_view(voucher, campaign)
    spend_row = uow.session.get(CampaignSpend, voucher.spend_id)
    settled = spend_row.settlement_id is not None
    changed = uow.session.execute(
        update(Voucher).where(Voucher.id == voucher.id, Voucher.status == "redeemed")
        .values(**({"status": "void"} if settled else
                   {"status": "issued", "redeemed_at": None, "redeemed_operator": None, "redeemed_key": None}))
        .execution_options(synchronize_session=False)).rowcount
    if changed:
        if settled:
            budget.reverse(uow, actor, spend_id=spend_row.id, reason="ticket refunded after settlement", audit=False)
        else:
            uow.session.execute(update(CampaignSpend).where(CampaignSpend.id == voucher.spend_id)
                                .values(payee_code=None, reference=None, order_fen=None)
                                .execution_options(synchronize_session=False))
        uow.audit(actor=actor, action="voucher.reversed", entity_type="discount_voucher",
                  entity_id=voucher.code, before={"status": "redeemed", "key": key},
                  after={"status": "void" if settled else "issued", "spend_reversed": settled})
    uow.session.refresh(voucher)
    return _voucher_view(voucher, campaign)


def expire_vouchers(*, uow: UnitOfWork, actor: Actor = SYSTEM) -> list[str]:
    """Vouchers still unused after their last day expire and give their face value back to
    the budget: one change, one audit record naming them. Commits. Returns their codes."""
    today = local_date(uow.now())
    due = list(uow.session.execute(select(Voucher).where(
        Voucher.status == "issued", Voucher.valid_until < today).order_by(Voucher.id)).scalars())
    expired = []
    for voucher in due:
        changed = uow.session.execute(
            update(Voucher).where(Voucher.id == voucher.id, Voucher.status == "issued")
            .values(status="expired").execution_options(synchronize_session=False)).rowcount
        if changed:
            budget.reverse(uow, actor, spend_id=voucher.spend_id, reason="voucher expired", audit=False)
            expired.append(voucher.code)
    if expired:
        uow.audit(actor=actor, action="voucher.expired_batch", entity_type="discount_voucher_batch",
                  entity_id=today.isoformat(), after={"vouchers": expired})
        uow.commit()
    return expired


# ---------------------------------------------------------------------------------------
# Settlement: what the sponsor pays each merchant


def settle(*, uow: UnitOfWork, actor: Actor, campaign_code: str, period: str) -> list[SettlementView]:
    """The statements of a campaign for a past month (YYYY-MM), one per merchant: the
    redemptions made up to the month's end and not yet stated (an earlier month left unstated
    is swept in; a voucher counts once redeemed, by its grant time), less the discounts refunded
    since an earlier statement. Once per campaign and month (a statement per merchant); one transaction, one audit record naming
    the statements. Commits."""
    # One settlement of a campaign at a time, any month: two at once both read "not settled"
    # (PostgreSQL), and two months at once would both sweep in the same unstated redemptions.
    serialised(uow.session, f"discounts.settlement:{campaign_code}")
    campaign = _campaign_for_sponsor(uow, actor, campaign_code)
    start, end = _month_bounds(period)
    if end > uow.now():
        raise InvalidInput(reason_zh="只能结算已结束的月份", reason_en="only a month that has ended can be settled")
    if uow.session.execute(select(Settlement.id).where(
            Settlement.campaign_id == campaign.id, Settlement.period == period)).first() is not None:
        raise errors.AlreadySettled()
    spends = list(uow.session.execute(select(CampaignSpend).where(
        CampaignSpend.campaign_id == campaign.id, CampaignSpend.payee_code.is_not(None),
        CampaignSpend.spent_at < end, CampaignSpend.settlement_id.is_(None),
        CampaignSpend.status == budget.SPENT).order_by(CampaignSpend.id)).scalars())
    # A voucher's spend is stated only once redeemed (its payee is set then).
    reversals = list(uow.session.execute(select(CampaignSpend).where(
        CampaignSpend.campaign_id == campaign.id, CampaignSpend.status == budget.REVERSED,
        CampaignSpend.settlement_id.is_not(None), CampaignSpend.reversal_settlement_id.is_(None),
        CampaignSpend.reversed_at < end).order_by(CampaignSpend.id)).scalars())
    by_payee: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for row in spends:
        by_payee[row.payee_code][0].append(row)
    for row in reversals:
        by_payee[row.payee_code][1].append(row)
    made = []
    for payee, (plus, minus) in sorted(by_payee.items()):
        redeemed = sum(r.amount_fen for r in plus)
        reversed_ = sum(r.amount_fen for r in minus)
        statement = Settlement(campaign_id=campaign.id, payee_code=payee, period=period,
                               redemptions=len(plus), redeemed_fen=redeemed, reversals=len(minus),
                               reversed_fen=reversed_, net_fen=redeemed - reversed_, status="stated",
                               created_at=uow.now(), created_by=actor.user_id)
        uow.session.add(statement)
        uow.session.flush()
        for row in plus:
            row.settlement_id = statement.id
        for row in minus:
            row.reversal_settlement_id = statement.id
        made.append(statement)
    uow.session.flush()
    uow.audit(actor=actor, action="campaign.settled", entity_type="discount_campaign",
              entity_id=campaign.code, after={
                  "period": period, "statements": [
                      {"id": s.id, "payee_code": s.payee_code, "net_fen": s.net_fen,
                       "redemptions": [r.id for r in by_payee[s.payee_code][0]],
                       "reversals": [r.id for r in by_payee[s.payee_code][1]]} for s in made]})
    uow.commit()
    return [_settlement_view(s, campaign) for s in made]


def mark_paid(*, uow: UnitOfWork, actor: Actor, settlement_id: int, payment_reference: str) -> SettlementView:
    """The sponsor records that it paid a statement (its bank transfer's reference). Commits."""
    statement = uow.session.get(Settlement, settlement_id)
    if statement is None:
        raise errors.SettlementNotFound(settlement_id=settlement_id)
    campaign = uow.session.get(Campaign, statement.campaign_id)
    _check_sponsor(actor, campaign, settlement_id=settlement_id)
    reference = (payment_reference or "").strip()
    if not 0 < len(reference) <= 64:
        raise InvalidInput(reason_zh="请填写付款流水号", reason_en="the payment reference is required")
    if statement.status == "paid":
        if statement.payment_reference != reference:
            raise errors.AlreadySettled()
        return _settlement_view(statement, campaign)
    statement.status, statement.paid_at, statement.paid_by = "paid", uow.now(), actor.user_id
    statement.payment_reference = reference
    uow.session.flush()
    uow.audit(actor=actor, action="campaign.statement_paid", entity_type="discount_settlement",
              entity_id=statement.id, before={"status": "stated"},
              after={"status": "paid", "payment_reference": reference, "net_fen": statement.net_fen})
    uow.commit()
    return _settlement_view(statement, campaign)


def statements(*, uow: UnitOfWork, actor: Actor, campaign_code: str | None = None) -> list[SettlementView]:
    """Statements in scope: a sponsor's campaigns', a merchant's own, all for staff."""
    query = select(Settlement, Campaign).join(Campaign, Campaign.id == Settlement.campaign_id).order_by(
        Settlement.period.desc(), Settlement.id.desc())
    if actor.role is Role.CAMPAIGN_SPONSOR:
        query = query.where(Campaign.sponsor_code == (actor.branch_code or ""))
    elif actor.role in (Role.MERCHANT, Role.VENUE_OPERATOR):
        query = query.where(Settlement.payee_code == (actor.branch_code or ""))
    elif actor.role not in STAFF:
        raise Forbidden()
    if campaign_code:
        query = query.where(Campaign.code == campaign_code)
    return [_settlement_view(s, c) for s, c in uow.session.execute(query).all()]


# ---------------------------------------------------------------------------------------
# Report


def report(*, uow: UnitOfWork, actor: Actor, code: str) -> CampaignReport:
    """A campaign's figures: budget spent and left, redemptions and refunds, holders reached,
    spend per day and per merchant, vouchers by status, stated and paid."""
    row = _campaign_for_sponsor(uow, actor, code)
    out = CampaignReport(campaign=_campaign_view(uow, row))
    spends = uow.session.execute(select(CampaignSpend.spent_at, CampaignSpend.amount_fen,
                                        CampaignSpend.status, CampaignSpend.payee_code,
                                        CampaignSpend.person_id)
                                 .where(CampaignSpend.campaign_id == row.id)).all()
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    payees: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    holders = set()
    for spent_at, amount, status, payee, person in spends:
        if status == budget.REVERSED:
            out.reversed += 1
            out.reversed_fen += amount
            continue
        out.redemptions += 1
        out.redeemed_fen += amount
        holders.add(person)
        day = days[local_date(spent_at)]
        day[0] += 1
        day[1] += amount
        if payee:
            payees[payee][0] += 1
            payees[payee][1] += amount
    out.holders = len(holders)
    out.by_day = [(d, c, f) for d, (c, f) in sorted(days.items())]
    out.by_payee = [(p, c, f) for p, (c, f) in sorted(payees.items())]
    out.vouchers = dict(uow.session.execute(select(Voucher.status, func.count()).where(
        Voucher.campaign_id == row.id).group_by(Voucher.status)).all())
    for net, status in uow.session.execute(select(Settlement.net_fen, Settlement.status).where(
            Settlement.campaign_id == row.id)).all():
        out.settled_fen += net
        out.paid_fen += net if status == "paid" else 0
    return out


def report_chart(report_: CampaignReport):
    """The report's chart: discounts spent per day (CNY), server-rendered SVG."""
    from yikatong.centre.charts import bar_chart
    from yikatong.core.money import format_fen

    categories = [d.strftime("%m-%d") for d, _, _ in report_.by_day]
    return bar_chart(title="每日优惠金额 Discounts per day", categories=categories,
                     series=[("优惠金额 discounts (CNY)", [f for _, _, f in report_.by_day])],
                     no_data="暂无核销 No redemptions yet", formatter=format_fen)


# ---------------------------------------------------------------------------------------
# Reference data


REFERENCE_CAMPAIGNS = (
    # code, sponsor, kind, zh, en, budget fen, rule, eligibility, limit count, limit fen, days
    ("CZ-2026-MJ", "CZ-HRSS", Kind.SPEND_REDUCTION, "龙城惠民消费满减（参考）",
     "Longcheng spend-threshold reduction (reference)", 5_000_000,
     {"tiers": [[10_000, 1_000], [20_000, 3_000]]}, {"regions": ["3204"]}, 3, None, 90),
    ("CZ-2026-TOUR", "CZ-HRSS", Kind.TOURISM_VOUCHER, "常州文旅专享抵扣券（参考）",
     "Changzhou tourism voucher (reference)", 2_000_000,
     {"face_fen": 3_000, "min_order_fen": 5_000, "valid_days": 30}, {}, 1, None, 90),
)
REFERENCE_MERCHANTS = (("CZ-2026-MJ", "M-CZ-0001", "龙城示范商户", "Longcheng model shop"),
                       ("CZ-2026-TOUR", "CZ-DINO", "中华恐龙园", "China Dinosaur Park"))


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> int:
    """The reference campaigns (from today, for their days) and their merchants (idempotent):
    how many campaigns were added."""
    added = 0
    today = local_date(uow.now())
    for code, sponsor, kind, zh, en, budget_fen, rule, eligibility, count, fen, days in REFERENCE_CAMPAIGNS:
        if uow.session.execute(select(Campaign.id).where(Campaign.code == code)).first() is None:
            create_campaign(uow=uow, actor=actor, code=code, kind=kind, name_zh=zh, name_en=en,
                            budget_fen=budget_fen, starts_on=today, ends_on=today + timedelta(days=days),
                            rule=rule, eligibility=eligibility, holder_limit_count=count,
                            holder_limit_fen=fen, sponsor_code=sponsor)
            added += 1
    for code, merchant, zh, en in REFERENCE_MERCHANTS:
        enrol_merchant(uow=uow, actor=actor, code=code, merchant_code=merchant, name_zh=zh, name_en=en)
    return added


# ---------------------------------------------------------------------------------------
# Internals


def _sponsor_of(actor: Actor, sponsor_code: str | None) -> str:
    if actor.role is Role.CAMPAIGN_SPONSOR and actor.branch_code:
        if sponsor_code not in (None, "", actor.branch_code):
            raise Forbidden()
        return actor.branch_code
    if actor.role in STAFF and sponsor_code:
        return sponsor_code.strip()[:32]
    if actor.role in STAFF:
        raise InvalidInput(reason_zh="请指明出资方", reason_en="name the sponsor (sponsor_code)")
    raise Forbidden()


def _merchant_of(actor: Actor) -> str:
    if actor.role in (Role.MERCHANT, Role.VENUE_OPERATOR) and actor.branch_code:
        return actor.branch_code
    raise Forbidden()


def _campaign_by_code(uow: UnitOfWork, code: str) -> Campaign:
    row = uow.session.execute(select(Campaign).where(Campaign.code == code)).scalar_one_or_none()
    if row is None:
        raise errors.CampaignNotFound(code=code)
    return row


def _check_sponsor(actor: Actor, campaign: Campaign | None, **details) -> None:
    if actor.role in STAFF:
        return
    if (actor.role is Role.CAMPAIGN_SPONSOR and campaign is not None
            and campaign.sponsor_code == actor.branch_code):
        return
    if actor.role not in SPONSORS:
        raise Forbidden()
    raise errors.CampaignNotFound(**details)


def _campaign_for_sponsor(uow: UnitOfWork, actor: Actor, code: str) -> Campaign:
    if actor.role not in SPONSORS:
        raise Forbidden()
    row = uow.session.execute(select(Campaign).where(Campaign.code == code)).scalar_one_or_none()
    _check_sponsor(actor, row, code=code)
    if row is None:
        raise errors.CampaignNotFound(code=code)
    return row


def _campaign_in_scope(uow: UnitOfWork, actor: Actor, code: str) -> Campaign:
    row = _campaign_by_code(uow, code)
    if actor.role in STAFF or actor.role is Role.HOLDER and row.status == Status.ACTIVE:
        return row
    if actor.role is Role.CAMPAIGN_SPONSOR and row.sponsor_code == actor.branch_code:
        return row
    if actor.role in (Role.MERCHANT, Role.VENUE_OPERATOR) and _enrolment(uow, row.id, actor.branch_code or ""):
        return row
    raise errors.CampaignNotFound(code=code)


def _enrolment(uow: UnitOfWork, campaign_id: int, merchant_code: str) -> CampaignMerchant | None:
    return uow.session.execute(select(CampaignMerchant).where(
        CampaignMerchant.campaign_id == campaign_id, CampaignMerchant.merchant_code == merchant_code,
        CampaignMerchant.withdrawn_at.is_(None))).scalar_one_or_none()


def _holder_of_card(uow: UnitOfWork, card_no: str):
    """The person and card view behind a card number; only a live card (not lost, not ended)
    gets a discount."""
    from yikatong.cards.service import get_card
    from yikatong.core.errors import NotFound

    try:
        card = get_card(uow=uow, card_no=(card_no or "").strip()[:32])
    except NotFound:
        card = None
    if card is None or not card.is_live or card.blocks_in_force:
        raise errors.NoLiveCard()
    return card.person_id, card


def _facts(uow: UnitOfWork, person_id: int, card) -> rules.HolderFacts:
    from yikatong.cards.models import Card
    from yikatong.people.service import person_basics
    from yikatong.transit.service import rider_category_at_issue

    today = local_date(uow.now())
    person = person_basics(uow=uow, person_id=person_id)
    first = uow.session.execute(select(func.min(Card.issue_date)).where(Card.person_id == person_id)).scalar()
    rider = rider_category_at_issue(birth_date=person.birth_date, issue_date=today, uow=uow,
                                    person_id=person_id)
    return rules.HolderFacts(card_kind=getattr(card, "bank_code", None), rider_category=rider,
                             region=(person.ssn or "")[:6] or None, first_issued_on=first,
                             age=rules.age_on(person.birth_date, today))


def _check_eligible(uow: UnitOfWork, campaign: Campaign, person_id: int, card) -> None:
    if not campaign.eligibility:
        return
    why = rules.ineligible(campaign.eligibility, _facts(uow, person_id, card))
    if why is not None:
        raise errors.NotEligible(reason_zh=why[0], reason_en=why[1])


def _issue_voucher(uow: UnitOfWork, actor: Actor, campaign: Campaign, person_id: int, key: str,
                   *, check_eligible: bool) -> VoucherView:
    if campaign.kind != Kind.TOURISM_VOUCHER:
        raise errors.WrongKind(kind_zh="旅游抵扣券活动", kind_en="tourism voucher campaign")
    done = _spend_by_key(uow, key)
    if done is not None:
        if done.person_id != person_id or done.campaign_id != campaign.id:
            from yikatong.core.errors import IdempotencyKeyReused
            raise IdempotencyKeyReused(key=key)
        voucher = uow.session.execute(select(Voucher).where(Voucher.spend_id == done.id)).scalar_one()
        return _voucher_view(voucher, campaign)
    if check_eligible:
        from yikatong.cards.service import current_card_for

        card = current_card_for(uow=uow, person_id=person_id)
        if card is None or not card.is_live:
            raise errors.NoLiveCard()
        _check_eligible(uow, campaign, person_id, card)
    else:  # a sponsor's grant: no live card needed, but the same conditions
        from yikatong.cards.service import current_card_for
        from yikatong.people.service import person_basics

        person_basics(uow=uow, person_id=person_id)  # PersonNotFound
        _check_eligible(uow, campaign, person_id, current_card_for(uow=uow, person_id=person_id))
    rule = campaign.rule
    spent = budget.spend(uow, actor, campaign_id=campaign.id, person_id=person_id,
                         amount_fen=rule["face_fen"], idempotency_key=key, source="voucher", audit=False)
    today = local_date(uow.now())
    voucher = Voucher(code="V" + secrets.token_hex(6).upper(), campaign_id=campaign.id,
                      person_id=person_id, spend_id=spent.id, face_fen=rule["face_fen"],
                      min_order_fen=rule.get("min_order_fen", 0), operator_codes=list(rule.get("operator_codes") or []),
                      status="issued", issued_at=uow.now(),
                      valid_until=min(campaign.ends_on, today + timedelta(days=rule.get("valid_days", 30) - 1)))
    uow.session.add(voucher)
    uow.session.flush()
    uow.audit(actor=actor, action="voucher.issued", entity_type="discount_voucher", entity_id=voucher.code,
              new_entity=True, after={"campaign": campaign.code, "person_id": person_id,
                                      "face_fen": voucher.face_fen, "spend_id": spent.id,
                                      "valid_until": voucher.valid_until.isoformat()})
    return _voucher_view(voucher, campaign)


def _spend_by_key(uow: UnitOfWork, key: str) -> CampaignSpend | None:
    return uow.session.execute(select(CampaignSpend).where(CampaignSpend.idempotency_key == key)).scalar_one_or_none()


def _spend_row(uow: UnitOfWork, spend_id: int) -> CampaignSpend:
    row = uow.session.get(CampaignSpend, spend_id, populate_existing=True)
    if row is None:
        raise errors.SpendNotFound(redemption_id=spend_id)
    return row


def _month_bounds(period: str) -> tuple[datetime, datetime]:
    try:
        year, month = (int(p) for p in (period or "").split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise InvalidInput(reason_zh="期间格式应为 YYYY-MM", reason_en="the period must be YYYY-MM") from None
    following = date(year + (month == 12), month % 12 + 1, 1)
    return (datetime.combine(first, time(), CST).astimezone(UTC),
            datetime.combine(following, time(), CST).astimezone(UTC))


def _campaign_view(uow: UnitOfWork, c: Campaign) -> CampaignView:
    uow.session.refresh(c, attribute_names=["spent_fen", "status"])
    merchants = tuple(uow.session.execute(select(CampaignMerchant.merchant_code).where(
        CampaignMerchant.campaign_id == c.id).order_by(CampaignMerchant.merchant_code)).scalars())
    zh, en = rules.KIND_WORDS.get(c.kind, (c.kind, c.kind))
    return CampaignView(id=c.id, code=c.code, sponsor_code=c.sponsor_code, kind=c.kind, kind_zh=zh,
                        kind_en=en, name_zh=c.name_zh, name_en=c.name_en, budget_fen=c.budget_fen,
                        spent_fen=c.spent_fen, left_fen=c.budget_fen - c.spent_fen,
                        starts_on=c.starts_on, ends_on=c.ends_on, status=c.status, rule=dict(c.rule),
                        eligibility=dict(c.eligibility), holder_limit_count=c.holder_limit_count,
                        holder_limit_fen=c.holder_limit_fen, merchants=merchants)


def _redemption_view(uow: UnitOfWork, row: CampaignSpend, *, replayed: bool = False) -> RedemptionView:
    code = uow.session.execute(select(Campaign.code).where(Campaign.id == row.campaign_id)).scalar_one()
    return RedemptionView(id=row.id, campaign_code=code, merchant_code=row.payee_code,
                          order_ref=row.reference, order_fen=row.order_fen, discount_fen=row.amount_fen,
                          pay_fen=(row.order_fen - row.amount_fen) if row.order_fen is not None else None,
                          card_tail=(row.card_no or "")[-4:], status=row.status, spent_at=row.spent_at,
                          reversed_at=row.reversed_at, settled=row.settlement_id is not None,
                          replayed=replayed)


def _voucher_view(v: Voucher, c: Campaign) -> VoucherView:
    return VoucherView(code=v.code, campaign_code=c.code, campaign_name_zh=c.name_zh,
                       campaign_name_en=c.name_en, person_id=v.person_id, face_fen=v.face_fen,
                       min_order_fen=v.min_order_fen, operator_codes=tuple(v.operator_codes), status=v.status,
                       issued_at=v.issued_at, valid_until=v.valid_until, redeemed_at=v.redeemed_at,
                       redeemed_operator=v.redeemed_operator, redeemed_key=v.redeemed_key)


def _settlement_view(s: Settlement, c: Campaign) -> SettlementView:
    return SettlementView(id=s.id, campaign_code=c.code, sponsor_code=c.sponsor_code,
                          payee_code=s.payee_code, period=s.period, redemptions=s.redemptions,
                          redeemed_fen=s.redeemed_fen, reversals=s.reversals, reversed_fen=s.reversed_fen,
                          net_fen=s.net_fen, status=s.status, created_at=s.created_at, paid_at=s.paid_at,
                          payment_reference=s.payment_reference)
