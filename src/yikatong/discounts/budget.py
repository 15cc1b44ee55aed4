"""The one place a campaign's budget is charged and given back.

`spend` charges a campaign's budget and the holder's per-campaign counter for one benefit (a
till's 满减 redemption, a transit rebate, a tourism voucher granted); `reverse` gives it back
(a refund, a voucher that expired). Both run inside the caller's unit of work and never commit:
the caller commits the spend with what it pays for, or rolls both back.

Atomic under concurrency by conditional UPDATEs, never read-modify-write:

    UPDATE discount_campaigns SET spent_fen = spent_fen + :amount
     WHERE id = :id AND status = 'active' AND spent_fen + :amount <= budget_fen

An UPDATE that matches no row spent nothing: the budget (or the holder's limit) does not hold
the amount, whatever another till did a moment before. On PostgreSQL the first UPDATE takes
the campaign row's lock until commit and a concurrent one re-evaluates its WHERE on the row the
first committed (READ COMMITTED), so two tills never spend the last yuan twice; on SQLite the
writer takes the database's write lock up front (BEGIN IMMEDIATE). The same UPDATE answers the
campaign's per-holder limits (RETURNING): one round trip under the lock. A campaign without
per-holder limits keeps no per-holder counters (nothing to check, one statement fewer). The holder's counter row is
only touched under the campaign's lock, so the order of locks is always campaign, then holder:
no deadlock between spends of one campaign, batches included. A CHECK constraint
(0 <= spent_fen <= budget_fen) backs the rule up in the database.

Idempotent by `idempotency_key` (unique across spends; callers prefix it with their source, e.g.
"till:M-CZ-0001:<key>", "rebate:<campaign>:<tap record>"): the same key again returns the first
spend (`replayed=True`) and charges nothing; the same key with other content is
IdempotencyKeyReused. Everything runs in a savepoint, so a refused spend leaves the caller's
transaction as it was (a batch may carry on with the next row).

`spend_many` is the set-based form for a batch (the transit rebates: one clearing file's
holders of one campaign): ONE charge of the campaign row for all the items, capped by what is
left, the items served in the order given (when the budget does not cover all, the items in
order get theirs, the one at the edge what is left, later ones nothing); the per-holder counters
and the spend rows written in bulk. Same guards: the campaign row's conditional UPDATEs under
its lock, the holder counters only under it, the CHECK constraint, the unique key per spend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import IdempotencyKeyReused, InvalidInput
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.discounts import errors
from yikatong.discounts.models import Campaign, CampaignHolderUse, CampaignSpend

SPENT, REVERSED = "spent", "reversed"
SOURCES = frozenset({"till", "rebate", "voucher"})


@dataclass(frozen=True)
class SpendView:
    id: int
    campaign_id: int
    source: str
    idempotency_key: str
    person_id: int
    card_no: str | None
    payee_code: str | None
    reference: str | None
    order_fen: Fen | None
    amount_fen: Fen
    status: str
    spent_at: datetime
    reversed_at: datetime | None
    settled: bool
    replayed: bool = False


def spend(uow: UnitOfWork, actor: Actor, *, campaign_id: int, person_id: int, amount_fen: Fen,
          idempotency_key: str, source: str, card_no: str | None = None,
          payee_code: str | None = None, reference: str | None = None,
          order_fen: Fen | None = None, audit: bool = True) -> SpendView:
    """Charge `amount_fen` to the campaign's budget and to the person's per-holder limit, and
    record the spend. Does not commit. Raises CampaignNotFound, CampaignNotActive (paused,
    closed, or outside its dates), BudgetExhausted, HolderLimitReached, IdempotencyKeyReused.

    `audit=False` leaves the audit record to the caller (a batch writes one naming its rows)."""
    if source not in SOURCES:
        raise InvalidInput(reason_zh=f"未知来源 {source}", reason_en=f"unknown source {source}")
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise InvalidInput(reason_zh="优惠金额须大于零", reason_en="the discount must be above zero")
    key = (idempotency_key or "").strip()
    if not 0 < len(key) <= 160:
        raise InvalidInput(reason_zh="幂等键应为 1–160 个字符",
                           reason_en="the idempotency key must be 1–160 characters")
    content = (campaign_id, person_id, amount_fen, source, payee_code, reference)
    existing = _by_key(uow, key)
    if existing is not None:
        return _replay(existing, content)

    session = uow.session
    now = uow.now()
    try:
        with session.begin_nested():
            row = CampaignSpend(
                campaign_id=campaign_id, source=source, idempotency_key=key, person_id=person_id,
                card_no=card_no, payee_code=payee_code, reference=reference, order_fen=order_fen,
                amount_fen=amount_fen, status=SPENT, spent_at=now, spent_by=actor.user_id)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise _KeyTaken() from None
            limits = _charge_campaign(uow, campaign_id, amount_fen, now)
            if limits != (None, None):
                _charge_holder(uow, campaign_id, person_id, amount_fen, limits)
    except _KeyTaken:
        # A concurrent request with the same key committed first (its row held the key).
        existing = _by_key(uow, key)
        if existing is None:
            raise
        return _replay(existing, content)
    if audit:
        uow.audit(actor=actor, action="discount.spent", entity_type="discount_spend",
                  entity_id=row.id, new_entity=True,
                  after={"campaign_id": campaign_id, "source": source, "person_id": person_id,
                         "amount_fen": amount_fen, "payee_code": payee_code,
                         "reference": reference, "order_fen": order_fen})
    return view(row)


@dataclass(frozen=True)
class ManyItem:
    """One holder's share of a set-based spend (`spend_many`)."""

    person_id: int
    amount_fen: Fen
    idempotency_key: str
    card_no: str | None = None
    order_fen: Fen | None = None


@dataclass(frozen=True)
class ManyResult:
    """What an item got: `amount_fen` (0..asked); `refused` says why it got less than asked
    (BUDGET_EXHAUSTED or HOLDER_LIMIT), None when it got all; `replayed` when its key had
    already spent (nothing charged again)."""

    person_id: int
    idempotency_key: str
    amount_fen: Fen
    refused: str | None = None
    replayed: bool = False


BUDGET_EXHAUSTED, HOLDER_LIMIT = "budget_exhausted", "holder_limit"
_KEY_CHUNK = 500


def spend_many(uow: UnitOfWork, actor: Actor, *, campaign_id: int, items: Sequence[ManyItem], source: str,
               reference: str | None = None, payee_code: str | None = None,
               on: date | None = None) -> list[ManyResult]:
    """Charge many holders' spends to one campaign at once (a batch: the transit rebates of a
    clearing file). Does not commit and writes no audit record (the batch's names its rows).

    In one savepoint, under the campaign row's lock:
    1. the keys already spent are replayed (their amount, nothing charged; other content under a
       key is IdempotencyKeyReused);
    2. a conditional UPDATE of the campaign row (active, within its dates) takes its lock and
       answers what is left and the per-holder limits; then the per-holder counters of the
       items' people are read (one query; only touched under this lock);
    3. the items in the order given: each gets min(asked, its holder's limit left, budget left);
       a count limit reached gets nothing (HOLDER_LIMIT); the budget's edge gets what is left,
       later items nothing (BUDGET_EXHAUSTED);
    4. ONE conditional UPDATE charges the campaign the total granted (`spent_fen + total <=
       budget_fen`, the CHECK constraint behind it); the counters are updated and inserted in
       bulk, the spend rows inserted in bulk (a key a concurrent batch took first: IntegrityError,
       the savepoint rolled back, nothing charged).

    `on` is the day the spends are for (default today): the campaign must be active and that day
    within its period. Transit rebates pass the day of the taps, so a file of a campaign's last
    day that clears after it ended is still paid (while the sponsor has not closed it).

    Raises CampaignNotFound, CampaignNotActive (nothing charged, for all the items)."""
    if source not in SOURCES:
        raise InvalidInput(reason_zh=f"未知来源 {source}", reason_en=f"unknown source {source}")
    keys = []
    for item in items:
        key = (item.idempotency_key or "").strip()
        if not 0 < len(key) <= 160:
            raise InvalidInput(reason_zh="幂等键应为 1–160 个字符",
                               reason_en="the idempotency key must be 1–160 characters")
        if not isinstance(item.amount_fen, int) or item.amount_fen <= 0:
            raise InvalidInput(reason_zh="优惠金额须大于零", reason_en="the discount must be above zero")
        keys.append(key)
    if len(set(keys)) != len(keys):
        raise InvalidInput(reason_zh="批内幂等键重复", reason_en="an idempotency key repeats in the batch")
    if not items:
        return []
    session = uow.session
    existing: dict[str, CampaignSpend] = {}
    for start in range(0, len(keys), _KEY_CHUNK):
        existing.update((row.idempotency_key, row) for row in session.execute(select(CampaignSpend).where(
            CampaignSpend.idempotency_key.in_(keys[start:start + _KEY_CHUNK]))).scalars())
    results: list[ManyResult | None] = [None] * len(items)
    for i, (item, key) in enumerate(zip(items, keys, strict=True)):
        row = existing.get(key)
        if row is not None:
            if (row.campaign_id, row.person_id, row.source, row.payee_code, row.reference) != (
                    campaign_id, item.person_id, source, payee_code, reference) or row.amount_fen > item.amount_fen:
                raise IdempotencyKeyReused(key=key)
            results[i] = ManyResult(item.person_id, key, row.amount_fen,
                                    None if row.amount_fen == item.amount_fen else BUDGET_EXHAUSTED, replayed=True)
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return results  # type: ignore[return-value]
    now = uow.now()
    with session.begin_nested():
        budget_fen, spent_fen, limit_count, limit_fen = _lock_campaign(uow, campaign_id, on or local_date(now))
        left = budget_fen - spent_fen
        limited = (limit_count, limit_fen) != (None, None)
        people = sorted({items[i].person_id for i in todo})
        counters: dict[int, tuple[int, int]] = {}
        if limited:
            for start in range(0, len(people), _KEY_CHUNK):
                counters.update((p, (u, f)) for p, u, f in session.execute(
                    select(CampaignHolderUse.person_id, CampaignHolderUse.uses, CampaignHolderUse.spent_fen)
                    .where(CampaignHolderUse.campaign_id == campaign_id,
                           CampaignHolderUse.person_id.in_(people[start:start + _KEY_CHUNK]))))
        known = set(counters)
        changed: dict[int, tuple[int, int]] = {}
        rows = []
        for i in todo:
            item, key = items[i], keys[i]
            amount, refused = item.amount_fen, None
            if limited:
                uses, used = counters.get(item.person_id, (0, 0))
                if limit_count is not None and uses + 1 > limit_count:
                    amount, refused = 0, HOLDER_LIMIT
                elif limit_fen is not None and used + amount > limit_fen:
                    amount, refused = max(0, limit_fen - used), HOLDER_LIMIT
            if amount > left:
                amount, refused = left, BUDGET_EXHAUSTED
            left -= amount
            results[i] = ManyResult(item.person_id, key, amount, refused)
            if not amount:
                continue
            if limited:
                uses, used = counters.get(item.person_id, (0, 0))
                counters[item.person_id] = changed[item.person_id] = (uses + 1, used + amount)
            rows.append({"campaign_id": campaign_id, "source": source, "idempotency_key": key,
                         "person_id": item.person_id, "card_no": item.card_no, "payee_code": payee_code,
                         "reference": reference, "order_fen": item.order_fen, "amount_fen": amount,
                         "status": SPENT, "spent_at": now, "spent_by": actor.user_id})
        total = sum(r["amount_fen"] for r in rows)
        if total:
            charged = session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.spent_fen + total <= Campaign.budget_fen)
                .values(spent_fen=Campaign.spent_fen + total)
                .execution_options(synchronize_session=False)).rowcount
            if charged != 1:  # cannot happen under the lock; the guard stays the UPDATE's
                raise errors.BudgetExhausted(left_fen=budget_fen - spent_fen)
            if changed:
                table = CampaignHolderUse.__table__
                old = [{"c": campaign_id, "p": p, "u": u, "f": f} for p, (u, f) in changed.items() if p in known]
                new = [{"campaign_id": campaign_id, "person_id": p, "uses": u, "spent_fen": f}
                       for p, (u, f) in changed.items() if p not in known]
                if old:
                    session.execute(table.update()
                                    .where(table.c.campaign_id == bindparam("c"), table.c.person_id == bindparam("p"))
                                    .values(uses=bindparam("u"), spent_fen=bindparam("f")), old)
                if new:
                    session.execute(insert(table), new)
            session.execute(insert(CampaignSpend.__table__), rows)
    return results  # type: ignore[return-value]


def reverse(uow: UnitOfWork, actor: Actor, *, spend_id: int, reason: str,
            audit: bool = True) -> SpendView:
    """Give a spend back to the campaign's budget and the holder's limit (a refund at the till,
    a voucher expired). Idempotent: a spend already reversed comes back as it is. Does not
    commit. Conditional too: only the caller whose UPDATE turns `spent` into `reversed` gives
    the money back, so two refunds never return it twice."""
    session = uow.session
    row = session.get(CampaignSpend, spend_id)
    if row is None:
        raise errors.SpendNotFound(spend_id=spend_id)
    now = uow.now()
    changed = session.execute(
        update(CampaignSpend)
        .where(CampaignSpend.id == spend_id, CampaignSpend.status == SPENT)
        .values(status=REVERSED, reversed_at=now, reversed_by=actor.user_id,
                reverse_reason=(reason or "").strip()[:200] or None)
        .execution_options(synchronize_session=False)).rowcount
    if changed:
        # Campaign first, then holder: the one lock order (see the module's docstring).
        session.execute(
            update(Campaign).where(Campaign.id == row.campaign_id)
            .values(spent_fen=Campaign.spent_fen - row.amount_fen)
            .execution_options(synchronize_session=False))
        session.execute(
            update(CampaignHolderUse)
            .where(CampaignHolderUse.campaign_id == row.campaign_id,
                   CampaignHolderUse.person_id == row.person_id)
            .values(uses=CampaignHolderUse.uses - 1,
                    spent_fen=CampaignHolderUse.spent_fen - row.amount_fen)
            .execution_options(synchronize_session=False))
        if audit:
            uow.audit(actor=actor, action="discount.reversed", entity_type="discount_spend",
                      entity_id=row.id, before={"status": SPENT},
                      after={"status": REVERSED, "amount_fen": row.amount_fen,
                             "campaign_id": row.campaign_id}, reason=reason)
    session.refresh(row)
    return view(row)


def left_fen(uow: UnitOfWork, campaign_id: int) -> Fen:
    """What is left of the campaign's budget now."""
    budget, spent = uow.session.execute(select(Campaign.budget_fen, Campaign.spent_fen).where(
        Campaign.id == campaign_id)).one()
    return budget - spent


def view(row: CampaignSpend, *, replayed: bool = False) -> SpendView:
    return SpendView(id=row.id, campaign_id=row.campaign_id, source=row.source,
                     idempotency_key=row.idempotency_key, person_id=row.person_id,
                     card_no=row.card_no, payee_code=row.payee_code, reference=row.reference,
                     order_fen=row.order_fen, amount_fen=row.amount_fen, status=row.status,
                     spent_at=row.spent_at, reversed_at=row.reversed_at,
                     settled=row.settlement_id is not None, replayed=replayed)


# ---------------------------------------------------------------------------------------
# Internals


class _KeyTaken(Exception):
    pass


def _by_key(uow: UnitOfWork, key: str) -> CampaignSpend | None:
    return uow.session.execute(select(CampaignSpend).where(
        CampaignSpend.idempotency_key == key)).scalar_one_or_none()


def _replay(existing: CampaignSpend, content: tuple) -> SpendView:
    if (existing.campaign_id, existing.person_id, existing.amount_fen, existing.source,
            existing.payee_code, existing.reference) != content:
        raise IdempotencyKeyReused(key=existing.idempotency_key)
    return view(existing, replayed=True)


def _lock_campaign(uow: UnitOfWork, campaign_id: int, today: date) -> tuple[int, int, int | None, int | None]:
    """A conditional UPDATE (active, `today` within its dates) that changes nothing but takes the
    campaign row's lock to commit (PostgreSQL: a concurrent till waits, or we wait for its commit
    and read the row it left); answers budget, spent and the per-holder limits."""
    row = uow.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "active",
               Campaign.starts_on <= today, Campaign.ends_on >= today)
        .values(spent_fen=Campaign.spent_fen)
        .returning(Campaign.budget_fen, Campaign.spent_fen, Campaign.holder_limit_count,
                   Campaign.holder_limit_fen)
        .execution_options(synchronize_session=False)).first()
    if row is not None:
        return row.budget_fen, row.spent_fen, row.holder_limit_count, row.holder_limit_fen
    found = uow.session.execute(select(Campaign.status, Campaign.starts_on, Campaign.ends_on)
                                .where(Campaign.id == campaign_id)).first()
    if found is None:
        raise errors.CampaignNotFound(campaign_id=campaign_id)
    if found.status != "active":
        raise errors.CampaignNotActive(status=found.status)
    raise errors.CampaignNotActive(status=f"{found.starts_on}–{found.ends_on}")


def _charge_campaign(uow: UnitOfWork, campaign_id: int, amount_fen: Fen,
                     now: datetime) -> tuple[int | None, int | None]:
    """The conditional UPDATE of the budget; answers the campaign's per-holder limits (count,
    fen) in the same round trip (RETURNING), the campaign row's lock held from here to commit."""
    session = uow.session
    today = local_date(now)
    charged = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "active",
               Campaign.starts_on <= today, Campaign.ends_on >= today,
               Campaign.spent_fen + amount_fen <= Campaign.budget_fen)
        .values(spent_fen=Campaign.spent_fen + amount_fen)
        .returning(Campaign.holder_limit_count, Campaign.holder_limit_fen)
        .execution_options(synchronize_session=False)).first()
    if charged is not None:
        return charged.holder_limit_count, charged.holder_limit_fen
    found = session.execute(select(Campaign.status, Campaign.starts_on, Campaign.ends_on,
                                   Campaign.budget_fen, Campaign.spent_fen)
                            .where(Campaign.id == campaign_id)).first()
    if found is None:
        raise errors.CampaignNotFound(campaign_id=campaign_id)
    if found.status != "active":
        raise errors.CampaignNotActive(status=found.status)
    if not found.starts_on <= today <= found.ends_on:
        raise errors.CampaignNotActive(status=f"{found.starts_on}–{found.ends_on}")
    raise errors.BudgetExhausted(left_fen=found.budget_fen - found.spent_fen)


def _charge_holder(uow: UnitOfWork, campaign_id: int, person_id: int, amount_fen: Fen,
                   limits: tuple[int | None, int | None]) -> None:
    """Count the spend against the person's limits (a count and/or fen per holder; a campaign
    without per-holder limits keeps no counters). Runs only under the campaign row's lock (taken
    by _charge_campaign), so the select-then-insert of the person's first use cannot race
    another spend of this campaign."""
    session = uow.session
    limit_count, limit_fen = limits
    if (limit_count is not None and limit_count < 1) or (limit_fen is not None and amount_fen > limit_fen):
        raise errors.HolderLimitReached()
    statement = (update(CampaignHolderUse)
                 .where(CampaignHolderUse.campaign_id == campaign_id,
                        CampaignHolderUse.person_id == person_id)
                 .values(uses=CampaignHolderUse.uses + 1,
                         spent_fen=CampaignHolderUse.spent_fen + amount_fen)
                 .execution_options(synchronize_session=False))
    if limit_count is not None:
        statement = statement.where(CampaignHolderUse.uses + 1 <= limit_count)
    if limit_fen is not None:
        statement = statement.where(CampaignHolderUse.spent_fen + amount_fen <= limit_fen)
    if session.execute(statement).rowcount:
        return
    exists = session.execute(select(CampaignHolderUse.id).where(
        CampaignHolderUse.campaign_id == campaign_id,
        CampaignHolderUse.person_id == person_id)).first()
    if exists is not None:
        raise errors.HolderLimitReached()
    session.add(CampaignHolderUse(campaign_id=campaign_id, person_id=person_id, uses=1,
                                  spent_fen=amount_fen))
    session.flush()
