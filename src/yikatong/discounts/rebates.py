"""Travel discounts on transit (出行优惠, seed 三.8): rebates worked out at clearing and credited
back to the card at its next online contact.

Validators price fares offline and know nothing of campaigns. Once a clearing file has been
received (`clearing.receive`: its taps verified, cleared and settled in the file's own
transaction), `run_batch` takes the file's cleared taps in one query and, in ONE transaction:

1. reads the running campaigns of kind `transit_rebate` (discounts.models.Campaign) and what
   each holder already had this period (`discount_rebates`, grouped, one query per chunk of
   holders);
2. decides with the pure rules (rebate_rules.rebates_for) one row per (campaign, tap): the
   rule's share of the fare, capped per ride and per holder per month, in tap order;
3. spends the granted rebates from the campaign's budget through the discounts domain's
   set-based `budget.spend_many`, one per campaign for the file: one conditional charge of the
   campaign row for all the file's holders, the per-holder counters and the spend rows (one per
   (campaign, holder), key "rebate:<campaign>:<batch id>:p<person>") written in bulk; when a
   till spent the budget meanwhile, the holders in the order of their first tap get theirs, the
   one at the edge what is left, the later ones nothing; the holder's campaign-wide limit the
   same way: those taps are recorded with amount 0 and reported;
4. makes one wallet credit per card: a top-up order in state `paid`, payer kind `rebate`,
   channel `online`, which the card's next contact on any channel writes like any paid top-up
   (圈存, with the same 灰记录/补写 recovery: written once, never lost; transit.service.contact);
   the ledger moves the fen from the sponsor's receivable to the unwritten-top-ups liability;
5. writes the rows, the run (one per batch, unique) and one audit record naming the rows.

Idempotent: a batch that has a run answers with it (nothing is done twice); the primary key
(campaign, batch id, seq) and the spend keys make a concurrent second run fail and roll back
whole; a crash anywhere rolls the whole batch back. Runs are serialised (PostgreSQL: an advisory
transaction lock; SQLite has one writer), so two batches never both use one holder's last
monthly yuan.

Only our own cards (issuer city 3040) whose card the registry knows are rebated: the per-holder
limit is the person's, over all their cards, and a rebate is written to a card only we can
load. Closed or deny-listed wallets get nothing (counted as `wallet_closed`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from yikatong.clearing.batches import CHUNK, batch_row, chunks
from yikatong.clearing.errors import BatchNotFound
from yikatong.clearing.fileformat import LOAD_TYPES, FileKind
from yikatong.clearing.models import ClearedRecord, ClearingBatch, RecordStatus
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.discounts import rebate_rules as rr
from yikatong.discounts.rebate_models import TransitRebate, TransitRebateRun
from yikatong.ledger import service as ledger

KIND = "transit_rebate"
ACQUIRER = "discounts"
RUN_LOCK = 0x59_4B_54_52  # "YKTR": the advisory lock that serialises rebate runs (PostgreSQL)
WALLET_CLOSED = "wallet_closed"
JOB_ACTOR = Actor.system("discounts-rebates")
log = logging.getLogger(__name__)


def sponsor_receivable(sponsor_code: str) -> str:
    """Asset: what a campaign's sponsor owes for the rebates credited to cards."""
    return f"discounts:sponsor_receivable:{sponsor_code}"


# ---------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class CampaignTotals:
    campaign: str
    taps: int          # taps rebated (amount > 0)
    amount: Fen
    holders: int
    holder_limit: int  # taps refused: the holder's limit was reached
    budget_exhausted: int  # taps refused: the budget had run out
    campaign_closed: int = 0  # taps refused: the campaign was paused, closed or over when the file was run


@dataclass(frozen=True)
class RunView:
    file_id: str
    batch_id: int
    taps: int          # cleared purchases of our cards in the batch
    decided: int
    granted: int
    amount: Fen
    credits: int       # cards credited (one pending wallet credit each)
    campaigns: list[CampaignTotals]
    wallet_closed: int
    run_at: datetime
    replayed: bool = False


# ---------------------------------------------------------------------------------------
# Running a batch


def run_batch(*, uow: UnitOfWork, actor: Actor, file_id: str) -> RunView:
    """Rebate a received clearing file's cleared taps (see the module docstring). Does not
    commit; the caller commits the run whole. Raises BatchNotFound."""
    batch = batch_row(uow, file_id)
    if batch is None or batch.direction != "in":
        raise BatchNotFound()
    _serialise(uow)
    done = _run_of(uow, batch.id)
    if done is not None:
        return _run_view(done, replayed=True)
    taps, closed = _cleared_taps(uow, batch.id)
    campaigns = _running_campaigns(uow, taps)
    holders = {t.seq: h for t, h in taps}
    decisions = rr.rebates_for(
        [t for t, _ in taps], [c for c, _ in campaigns.values()],
        _holder_used(uow, campaigns, [t for t, _ in taps]),
        {code: _left(uow, running.id) for code, (_, running) in campaigns.items()},
        _admits({code: running.eligibility for code, (_, running) in campaigns.items()}, holders))
    people = {t.holder: h.person_id for t, h in taps}
    decisions = _spend(uow, actor, batch, decisions, campaigns, people)
    credits = _credit_cards(uow, actor, batch, decisions, campaigns)
    now = uow.now()
    days = {t.seq: t.tx_date for t, _ in taps}
    if decisions:
        uow.session.execute(insert(TransitRebate), [
            {"campaign": d.campaign, "batch_id": d.batch_id, "seq": d.seq, "asn": d.asn, "holder": d.holder,
             "period": d.period, "tx_date": days[d.seq], "fare": d.fare, "amount": d.amount,
             "outcome": str(d.outcome), "credit_ref": credits.get(d.asn) if d.amount else None, "created_at": now}
            for d in decisions])
    totals = _totals(decisions)
    run = TransitRebateRun(
        batch_id=batch.id, file_id=batch.file_id, taps=len(taps), decided=len(decisions),
        granted=sum(1 for d in decisions if d.amount), amount=sum(d.amount for d in decisions),
        credits=len(credits), run_at=now, run_by=actor.user_id,
        summary={"campaigns": [t.__dict__ for t in totals], "wallet_closed": closed},
    )
    uow.session.add(run)
    uow.session.flush()
    uow.audit(actor=actor, action="discounts.rebates_run", entity_type="discount_rebate_run", entity_id=run.id,
              new_entity=True, after={
                  "file_id": batch.file_id, "batch_id": batch.id, "amount": run.amount, "credits": credits,
                  "summary": run.summary,
                  # the rows: (campaign, record line, fen, outcome)
                  "rows": [[d.campaign, d.seq, d.amount, str(d.outcome)] for d in decisions]})
    uow.emit("discounts.rebates_run", aggregate_type="clearing_batch", aggregate_id=batch.file_id,
             payload={"file_id": batch.file_id, "amount": run.amount, "credits": len(credits),
                      "granted": run.granted})
    return _run_view(run)


def run_day(*, platform, actor: Actor, day: date) -> list[RunView]:
    """Rebate every record file received on `day` (CST) that has no run yet, each in its own
    transaction (a failure leaves the others done and itself to run again)."""
    with platform.uow() as uow:
        file_ids = pending_files(uow=uow, day=day)
    views = []
    for file_id in file_ids:
        with platform.uow() as uow:
            views.append(run_batch(uow=uow, actor=actor, file_id=file_id))
            uow.commit()
    return views


def pending_files(*, uow: UnitOfWork, day: date | None = None, limit: int | None = None) -> list[str]:
    """Received record files (terminal uploads, the national house's records of our cards)
    without a rebate run, optionally only those received on `day` (CST); oldest first."""
    query = (select(ClearingBatch.file_id, ClearingBatch.received_at)
             .outerjoin(TransitRebateRun, TransitRebateRun.batch_id == ClearingBatch.id)
             .where(ClearingBatch.direction == "in",
                    ClearingBatch.kind.in_([str(FileKind.TERMINAL), str(FileKind.NATIONAL_IN)]),
                    TransitRebateRun.id.is_(None))
             .order_by(ClearingBatch.id))
    rows = uow.session.execute(query).all()
    found = [file_id for file_id, received in rows if day is None or local_date(received) == day]
    return found if limit is None else found[:limit]


def run_pending(platform, *, actor: Actor = JOB_ACTOR, limit: int = 50) -> int:
    """The worker's hook after clearing: rebate the files received since the earliest running
    transit-rebate campaign began (a file received before it holds no tap of its period), each
    in its own transaction, once the clearing transaction that settled them has committed. A
    file that fails stays pending for the next round. Returns the files run."""
    from yikatong.discounts.models import Campaign

    with platform.uow() as uow:
        first = uow.session.execute(select(func.min(Campaign.starts_on)).where(
            Campaign.kind == KIND, Campaign.status == "active")).scalar()
        if first is None:
            return 0
        file_ids = [f for f in pending_files(uow=uow) if _received_on(uow, f) >= first][:limit]
    done = 0
    for file_id in file_ids:
        try:
            with platform.uow() as uow:
                run_batch(uow=uow, actor=actor, file_id=file_id)
                uow.commit()
            done += 1
        except (DomainError, IntegrityError) as error:  # another run got there first, or a refusal
            log.info("rebates for %s not run this round: %s", file_id, error)
    return done


def _received_on(uow: UnitOfWork, file_id: str) -> date:
    return local_date(batch_row(uow, file_id).received_at)


# ---------------------------------------------------------------------------------------
# Reading


def campaign_report(*, uow: UnitOfWork, campaign: str | None = None) -> list[CampaignTotals]:
    """Per campaign (all batches): taps rebated, fen, holders, and taps refused by reason."""
    query = (select(TransitRebate.campaign, TransitRebate.outcome, func.count(), func.sum(TransitRebate.amount),
                    func.count(func.distinct(TransitRebate.holder)))
             .group_by(TransitRebate.campaign, TransitRebate.outcome).order_by(TransitRebate.campaign))
    if campaign is not None:
        query = query.where(TransitRebate.campaign == campaign)
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, outcome, count, amount, holders in uow.session.execute(query):
        rows[code][outcome] += count
        if outcome == rr.Outcome.GRANTED:
            rows[code]["amount"] += int(amount or 0)
            rows[code]["holders"] = holders
    return [CampaignTotals(code, r[rr.Outcome.GRANTED], r["amount"], r["holders"], r[rr.Outcome.HOLDER_LIMIT],
                           r[rr.Outcome.BUDGET_EXHAUSTED], r[rr.Outcome.CAMPAIGN_CLOSED])
            for code, r in sorted(rows.items())]


def get_run(*, uow: UnitOfWork, file_id: str) -> RunView:
    batch = batch_row(uow, file_id)
    run = _run_of(uow, batch.id) if batch is not None else None
    if run is None:
        raise BatchNotFound()
    return _run_view(run, replayed=True)


# ---------------------------------------------------------------------------------------
# Internals


def _serialise(uow: UnitOfWork) -> None:
    if uow.session.get_bind().dialect.name == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RUN_LOCK})


def _run_of(uow: UnitOfWork, batch_id: int) -> TransitRebateRun | None:
    return uow.session.execute(select(TransitRebateRun).where(TransitRebateRun.batch_id == batch_id)).scalar_one_or_none()


@dataclass(frozen=True)
class _Holder:
    """What the campaign's eligibility (discounts rules.ineligible) looks at, per tap."""

    person_id: int
    bank_code: str | None
    region: str | None  # the first 4 digits of the person's ID number (3204: Changzhou)
    birth_date: date | None
    first_issued_on: date | None  # the person's first card


def _cleared_taps(uow: UnitOfWork, batch_id: int) -> tuple[list[tuple[rr.Tap, _Holder]], int]:
    """The batch's cleared purchases of our cards that the registry knows, with the holder's
    facts, in one query; and how many taps were left out because the card's wallet is closed or
    deny-listed."""
    from yikatong.cards.models import Card
    from yikatong.people.models import Person
    from yikatong.transit.models import DenyListEntry, TransitWallet

    latest_card = select(Card.asn, func.max(Card.id).label("card_id")).group_by(Card.asn).subquery()
    first_card = select(Card.person_id, func.min(Card.issue_date).label("first")).group_by(Card.person_id).subquery()
    r = ClearedRecord
    rows = uow.session.execute(
        select(r.seq, r.asn, r.tx_date, r.card_time, r.amount, r.mode, r.region, r.line, r.operator, r.card_kind,
               r.rider, Card.person_id, Card.issue_date, Card.bank_code, func.substr(Person.ssn, 1, 4),
               Person.birth_date, first_card.c.first, TransitWallet.state, DenyListEntry.asn)
        .join(latest_card, latest_card.c.asn == r.asn)
        .join(Card, Card.id == latest_card.c.card_id)
        .join(first_card, first_card.c.person_id == Card.person_id)
        .outerjoin(Person, Person.id == Card.person_id)
        .outerjoin(TransitWallet, TransitWallet.asn == r.asn)
        .outerjoin(DenyListEntry, DenyListEntry.asn == r.asn)
        .where(r.batch_id == batch_id, r.status == RecordStatus.CLEARED, r.own_card.is_(True),
               r.tx_type.not_in(list(LOAD_TYPES)), r.amount > 0)
        .order_by(r.seq)).all()
    taps, closed = [], 0
    for (seq, asn, tx_date, card_time, amount, mode, region, line, operator, card_kind, rider, person_id, issued,
         bank_code, person_region, birth_date, first_issued, wallet_state, denied) in rows:
        if wallet_state == "closed" or denied is not None:
            closed += 1
            continue
        taps.append((rr.Tap(batch_id=batch_id, seq=seq, asn=asn, holder=f"p:{person_id}", tx_date=tx_date,
                            occurred_at_key=card_time, fare=amount, mode=mode, region=region, line=line,
                            operator=operator, card_kind=card_kind, rider=rider, card_issued_on=issued),
                     _Holder(person_id, bank_code, person_region or None, birth_date, first_issued)))
    return taps, closed


def campaign_of(code: str, starts_on: date, ends_on: date, rule: dict) -> rr.Campaign:
    """A discounts campaign row's rule (JSON, checked by discounts rules.check_rule) as the pure
    rules' campaign: rate_bp (basis points of the fare), cap_fen (per tap), holder_month_fen
    (per holder per calendar month), and where the tap was and on what card: operators, modes,
    lines, tap_regions, card_kinds (empty: any). The holder's eligibility (bank, rider category, the ID
    number's region, new holders, age) is the campaign's `eligibility`, judged by the discounts
    domain's rules.ineligible (`_admits`); its holder_limit_fen/count by budget.spend."""
    def words(name: str) -> frozenset[str]:
        return frozenset(str(v) for v in rule.get(name) or ())

    return rr.Campaign(
        code=code, starts_on=starts_on, ends_on=ends_on,
        rule=rr.RebateRule(percent_bp=int(rule["rate_bp"]), max_per_ride=rule.get("cap_fen"),
                           max_per_holder=rule.get("holder_month_fen")),
        eligibility=rr.Eligibility(modes=words("modes"), regions=words("tap_regions"), lines=words("lines"),
                                   operators=words("operators"), card_kinds=words("card_kinds")))


def _admits(eligibility: dict[str, dict], holders: dict[int, _Holder]):
    """The holder test the pure rules call: the discounts domain's own eligibility rule, on the
    facts of the tap's day. The rider category is the one the validator read from the card and
    charged the fare by (the registry's rewrite reaches the card at a contact: riders.py)."""
    from yikatong.discounts import rules as discount_rules

    def admits(campaign: rr.Campaign, tap: rr.Tap) -> bool:
        wanted = eligibility.get(campaign.code)
        if not wanted:
            return True
        h = holders[tap.seq]
        facts = discount_rules.HolderFacts(
            bank_code=h.bank_code, rider_category=tap.rider or None, region=h.region,
            first_issued_on=h.first_issued_on,
            age=discount_rules.age_on(h.birth_date, tap.tx_date) if h.birth_date else None)
        return discount_rules.ineligible(wanted, facts) is None

    return admits


@dataclass(frozen=True)
class _Running:
    id: int
    sponsor: str
    eligibility: dict


def _running_campaigns(uow: UnitOfWork, taps: Sequence[tuple[rr.Tap, _Holder]]) -> dict[str, tuple[rr.Campaign, _Running]]:
    from yikatong.discounts.models import Campaign

    if not taps:
        return {}
    first, last = min(t.tx_date for t, _ in taps), max(t.tx_date for t, _ in taps)
    rows = uow.session.execute(
        select(Campaign).where(Campaign.kind == KIND, Campaign.status == "active", Campaign.starts_on <= last,
                               Campaign.ends_on >= first).order_by(Campaign.code)).scalars().all()
    return {c.code: (campaign_of(c.code, c.starts_on, c.ends_on, c.rule or {}),
                     _Running(c.id, c.sponsor_code, c.eligibility or {})) for c in rows}


def _left(uow: UnitOfWork, campaign_id: int) -> Fen:
    from yikatong.discounts import budget

    return budget.left_fen(uow, campaign_id)


def _holder_used(uow: UnitOfWork, campaigns: dict, taps: Sequence[rr.Tap]) -> dict[tuple[str, str, str], Fen]:
    """What each holder of the batch already had from each campaign, per period (earlier
    batches), in one grouped query per chunk of holders."""
    if not campaigns or not taps:
        return {}
    holders = sorted({t.holder for t in taps})
    periods = sorted({f"{t.tx_date:%Y-%m}" for t in taps} | {"campaign"})
    used: dict[tuple[str, str, str], Fen] = {}
    for part in chunks(holders, CHUNK):
        for code, holder, period, amount in uow.session.execute(
                select(TransitRebate.campaign, TransitRebate.holder, TransitRebate.period, func.sum(TransitRebate.amount))
                .where(TransitRebate.campaign.in_(list(campaigns)), TransitRebate.holder.in_(list(part)),
                       TransitRebate.period.in_(periods))
                .group_by(TransitRebate.campaign, TransitRebate.holder, TransitRebate.period)):
            used[(code, holder, period)] = int(amount or 0)
    return used


def _spend(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, decisions: list[rr.Decision],
           campaigns: dict[str, tuple[rr.Campaign, _Running]], people: dict[str, int]) -> list[rr.Decision]:
    """Charge the granted rebates to their campaigns' budgets, set-based: one
    `budget.spend_many` per campaign for the file (one conditional charge of the campaign row,
    the counters and spend rows in bulk), one spend row per (campaign, holder), the holder's
    taps together (key "rebate:<campaign>:<batch id>:p<person>").

    The rules already kept within the budget read at the start, so getting less means a till
    spent in between: the holders in the order of their first tap get theirs, the one at the
    edge what is left (their taps in order, the rest nothing), later holders nothing
    (`budget_exhausted`); the same for the campaign-wide holder limit (`holder_limit`) and a
    campaign that is no longer active (`campaign_closed`: nothing spent from it)."""
    from yikatong.discounts import budget, errors

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)  # (campaign, holder) → decision indexes
    for i, d in enumerate(decisions):
        if d.amount:
            groups[(d.campaign, d.holder)].append(i)
    per_campaign: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)
    for (code, holder), indexes in groups.items():  # in the order of each group's first tap
        per_campaign[code].append((holder, indexes))
    out = list(decisions)
    for code, holders in per_campaign.items():
        running = campaigns[code][1]
        items = [budget.ManyItem(person_id=people[holder], amount_fen=sum(decisions[i].amount for i in indexes),
                                 idempotency_key=f"rebate:{code}:{batch.id}:p{people[holder]}",
                                 order_fen=sum(decisions[i].fare for i in indexes))
                 for holder, indexes in holders]
        # every tap the rules granted lies within the campaign's period (rebate_rules), so the
        # spend is for a day in it: today, or the last day for a file cleared after the end
        on = min(local_date(uow.now()), campaigns[code][0].ends_on)
        try:
            results = budget.spend_many(uow, actor, campaign_id=running.id, items=items, source="rebate",
                                        reference=f"{batch.file_id}", on=on)
            given_outcome = [(r.amount_fen, rr.Outcome.HOLDER_LIMIT if r.refused == budget.HOLDER_LIMIT
                              else rr.Outcome.BUDGET_EXHAUSTED) for r in results]
        except errors.CampaignNotActive:  # closed or paused by its sponsor (reported)
            given_outcome = [(0, rr.Outcome.CAMPAIGN_CLOSED)] * len(items)
        for (_, indexes), (amount, outcome) in zip(holders, given_outcome, strict=True):
            left = amount
            for i in indexes:  # what was spent, to the holder's taps in order
                d = decisions[i]
                given = min(d.amount, left)
                left -= given
                out[i] = d if given == d.amount else rr.Decision(
                    d.campaign, d.batch_id, d.seq, d.asn, d.holder, d.period, d.fare, d.wanted, given,
                    rr.Outcome.GRANTED if given else outcome)
    return out


def _credit_cards(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, decisions: Iterable[rr.Decision],
                  campaigns: dict[str, tuple[rr.Campaign, _Running]]) -> dict[str, str]:
    """One paid wallet credit per card (written at its next contact), and one journal for the
    batch: the sponsors' receivables debited, the unwritten top-ups credited. Returns
    asn → order no."""
    from yikatong.transit import rules as transit_rules
    from yikatong.transit.models import TopUpOrder, TransitWallet

    decisions = list(decisions)
    per_card = rr.credits_per_card(decisions)
    if not per_card:
        return {}
    now = uow.now()
    wallets = {w.asn: w for w in uow.session.execute(
        select(TransitWallet).where(TransitWallet.asn.in_(list(per_card)))).scalars()}
    issuers = dict(uow.session.execute(
        select(ClearedRecord.asn, func.max(ClearedRecord.issuer_id))
        .where(ClearedRecord.batch_id == batch.id, ClearedRecord.asn.in_(list(per_card)))
        .group_by(ClearedRecord.asn)).all())
    orders: dict[str, str] = {}
    for asn, amount in per_card.items():
        order_no = f"RB{batch.id:08d}{len(orders) + 1:06d}"[:32]
        wallet = wallets.get(asn)
        uow.session.add(TopUpOrder(
            order_no=order_no, idempotency_key=f"rebate:{batch.id}:{asn}", request_hash="-" * 64, asn=asn,
            issuer_id=issuers[asn], amount=amount, channel=str(transit_rules.TopUpChannel.ONLINE), outlet_code=None,
            payer_kind=transit_rules.REBATE_PAYER, payer_reference=f"出行优惠返还 rebate {batch.file_id}"[:64],
            state=str(transit_rules.OrderState.PAID), balance_read=(wallet.last_balance or 0) if wallet else 0,
            acquirer=ACQUIRER, payment_reference=batch.file_id[:64], created_by=actor.user_id,
            created_by_user_id=None, created_at=now, paid_at=now, updated_at=now, version=1))
        orders[asn] = order_no
    by_sponsor: dict[str, Fen] = defaultdict(int)
    for d in decisions:
        by_sponsor[campaigns[d.campaign][1].sponsor] += d.amount
    legs = [(sponsor_receivable(s), fen) for s, fen in sorted(by_sponsor.items()) if fen]
    for code, _ in legs:
        ledger.open_account(uow=uow, code=code, kind="asset")
    kind, negative = transit_rules.account_settings(transit_rules.TOP_UP_UNWRITTEN)
    ledger.open_account(uow=uow, code=transit_rules.TOP_UP_UNWRITTEN, kind=kind, allow_negative=negative)
    ledger.post(uow=uow, request_id=f"discounts:rebates:{batch.file_id}", kind="discounts.rebates_credited",
                legs=[*legs, (transit_rules.TOP_UP_UNWRITTEN, -sum(per_card.values()))],
                memo=f"{batch.file_id}: {len(per_card)} cards / 张卡")
    uow.session.flush()
    return orders


def _totals(decisions: Sequence[rr.Decision]) -> list[CampaignTotals]:
    per: dict[str, list[rr.Decision]] = defaultdict(list)
    for d in decisions:
        per[d.campaign].append(d)
    return [CampaignTotals(
        campaign=code, taps=sum(1 for d in ds if d.amount), amount=sum(d.amount for d in ds),
        holders=len({d.holder for d in ds if d.amount}),
        holder_limit=sum(1 for d in ds if d.outcome is rr.Outcome.HOLDER_LIMIT),
        budget_exhausted=sum(1 for d in ds if d.outcome is rr.Outcome.BUDGET_EXHAUSTED),
        campaign_closed=sum(1 for d in ds if d.outcome is rr.Outcome.CAMPAIGN_CLOSED))
        for code, ds in sorted(per.items())]


def _run_view(run: TransitRebateRun, *, replayed: bool = False) -> RunView:
    summary = run.summary or {}
    return RunView(file_id=run.file_id, batch_id=run.batch_id, taps=run.taps, decided=run.decided,
                   granted=run.granted, amount=run.amount, credits=run.credits,
                   campaigns=[CampaignTotals(**c) for c in summary.get("campaigns", [])],
                   wallet_closed=int(summary.get("wallet_closed", 0)), run_at=run.run_at, replayed=replayed)
