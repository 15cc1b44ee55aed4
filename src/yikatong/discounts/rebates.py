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
4. credits each card where its campaign says (rule `credit_to`, rebate_rules.destination: the
   other one when that is not live): to the wallet, one top-up order in state `paid`, payer
   kind `rebate`, channel `online`, which the card's next contact on any channel writes like
   any paid top-up (圈存, with the same 灰记录/补写 recovery: written once, never lost;
   transit.service.contact); to the bank account, one `discount_rebate_account_credits` row
   per card and sponsor, delivered afterwards outside this transaction
   (`deliver_account_credits`, BankGateway.credit_to_account with the sponsor as payer). The
   ledger moves the fen from the sponsor's receivable to the unwritten-top-ups liability, or
   to the account rebates not yet delivered;
5. writes the rows, the run (one per batch, unique) and one audit record naming the rows.

Idempotent: a batch that has a run answers with it (nothing is done twice); the primary key
(campaign, batch id, seq) and the spend keys make a concurrent second run fail and roll back
whole; a crash anywhere rolls the whole batch back. Runs are serialised (db.exclusive.serialised:
on PostgreSQL an advisory transaction lock; SQLite has one writer), so two batches never both
use one holder's last monthly yuan.

Only our own cards (issuer city 3040) whose card the registry knows are rebated: the per-holder
limit is the person's, over all their cards, and a rebate is written to a card only we can
load. A tap of a card with neither a live wallet (closed or deny-listed) nor a live bank
account gets nothing (counted as `left_out`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from yikatong.clearing.batches import CHUNK, batch_row, chunks
from yikatong.clearing.errors import BatchNotFound
from yikatong.clearing.fileformat import LOAD_TYPES, FileKind
from yikatong.clearing.models import ClearedRecord, ClearingBatch, RecordStatus
from yikatong.core.actor import Actor
from yikatong.core.clock import local_date
from yikatong.core.errors import DomainError
from yikatong.core.killpoints import killpoint
from yikatong.core.money import Fen
from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork
from yikatong.discounts import rebate_rules as rr
from yikatong.discounts.rebate_models import RebateAccountCredit, TransitRebate, TransitRebateRun
from yikatong.ledger import service as ledger

KIND = "transit_rebate"
ACQUIRER = "discounts"
JOB_ACTOR = Actor.system("discounts-rebates")
# Liability: rebates promised to cards' bank accounts and not yet delivered by the bank.
ACCOUNT_REBATES_UNDELIVERED = "discounts:rebates_to_accounts"
# A card's bank account takes a rebate when the card is in use and its account is active
# (money in goes on while it is lost or past its validity; one not yet activated would be held).
LIVE_ACCOUNT_STATUSES = frozenset({"active", "temporary_loss", "formal_loss", "expired"})
PENDING, POSTED, HELD, TO_WALLET, UNDELIVERABLE = "pending", "posted", "held", "to_wallet", "undeliverable"
log = logging.getLogger(__name__)


def sponsor_receivable(sponsor_code: str) -> str:
    """Asset: what a campaign's sponsor owes for the rebates credited to cards' wallets (a
    rebate to a bank account the sponsor pays at the bank itself, as the payer)."""
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
    credits: int       # cards credited to the wallet (one pending wallet credit each)
    campaigns: list[CampaignTotals]
    left_out: int      # taps of cards with neither a live wallet nor a live bank account
    run_at: datetime
    replayed: bool = False
    account_credits: int = 0  # credits to bank accounts (one per card and sponsor), delivered later


# ---------------------------------------------------------------------------------------
# Running a batch


def run_batch(*, uow: UnitOfWork, actor: Actor, file_id: str) -> RunView:
    """Rebate a received clearing file's cleared taps (see the module docstring). Does not
    commit; the caller commits the run whole. Raises BatchNotFound."""
    batch = batch_row(uow, file_id)
    if batch is None or batch.direction != "in":
        raise BatchNotFound()
    serialised(uow.session, "discounts.rebate_runs")
    done = _run_of(uow, batch.id)
    if done is not None:
        return _run_view(done, replayed=True)
    taps, left_out = _cleared_taps(uow, batch.id)
    campaigns = _running_campaigns(uow, taps)
    holders = {t.seq: h for t, h in taps}
    decisions = rr.rebates_for(
        [t for t, _ in taps], [c for c, _ in campaigns.values()],
        _holder_used(uow, campaigns, [t for t, _ in taps]),
        {code: _left(uow, running.id) for code, (_, running) in campaigns.items()},
        _admits({code: running.eligibility for code, (_, running) in campaigns.items()}, holders))
    people = {t.holder: h.person_id for t, h in taps}
    decisions = _spend(uow, actor, batch, decisions, campaigns, people)
    refs = _credit_cards(uow, actor, batch, decisions, campaigns, holders)
    now = uow.now()
    days = {t.seq: t.tx_date for t, _ in taps}
    if decisions:
        uow.session.execute(insert(TransitRebate), [
            {"campaign": d.campaign, "batch_id": d.batch_id, "seq": d.seq, "asn": d.asn, "holder": d.holder,
             "period": d.period, "tx_date": days[d.seq], "fare": d.fare, "amount": d.amount,
             "outcome": str(d.outcome), "credit_ref": refs.get((d.campaign, d.asn)) if d.amount else None,
             "created_at": now}
            for d in decisions])
    totals = _totals(decisions)
    wallet_credits = {ref for ref in refs.values() if ref.startswith(WALLET_PREFIX)}
    account_credits = set(refs.values()) - wallet_credits
    run = TransitRebateRun(
        batch_id=batch.id, file_id=batch.file_id, taps=len(taps), decided=len(decisions),
        granted=sum(1 for d in decisions if d.amount), amount=sum(d.amount for d in decisions),
        credits=len(wallet_credits), run_at=now, run_by=actor.user_id,
        summary={"campaigns": [t.__dict__ for t in totals], "left_out": left_out,
                 "account_credits": len(account_credits)},
    )
    uow.session.add(run)
    uow.session.flush()
    uow.audit(actor=actor, action="discounts.rebates_run", entity_type="discount_rebate_run", entity_id=run.id,
              new_entity=True, after={
                  "file_id": batch.file_id, "batch_id": batch.id, "amount": run.amount,
                  "credits": sorted(set(refs.values())),  # wallet orders (RB…), account credits (RA…)
                  "summary": run.summary,
                  # the rows: (campaign, record line, fen, outcome)
                  "rows": [[d.campaign, d.seq, d.amount, str(d.outcome)] for d in decisions]})
    uow.emit("discounts.rebates_run", aggregate_type="clearing_batch", aggregate_id=batch.file_id,
             payload={"file_id": batch.file_id, "amount": run.amount, "credits": len(wallet_credits),
                      "account_credits": len(account_credits), "granted": run.granted})
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


def _run_of(uow: UnitOfWork, batch_id: int) -> TransitRebateRun | None:
    return uow.session.execute(select(TransitRebateRun).where(TransitRebateRun.batch_id == batch_id)).scalar_one_or_none()


@dataclass(frozen=True)
class _Holder:
    """What the campaign's eligibility (discounts rules.ineligible) looks at, per tap, and
    where the card can take a rebate."""

    person_id: int
    card_kind: str | None  # the partner bank whose co-branded card it is (Card.bank_code)
    region: str | None  # the first 6 digits of the person's ID number (320402: Changzhou Tianning)
    birth_date: date | None
    first_issued_on: date | None  # the person's first card
    card_no: str = ""
    pan: str = ""
    wallet_ok: bool = True  # the wallet is not closed nor deny-listed
    account_ok: bool = False  # the card is in use and its bank account live (LIVE_ACCOUNT_STATUSES)


def _cleared_taps(uow: UnitOfWork, batch_id: int) -> tuple[list[tuple[rr.Tap, _Holder]], int]:
    """The batch's cleared purchases of our cards that the registry knows, with the holder's
    facts, in one query; and how many taps were left out because the card has neither a live
    wallet (closed or deny-listed) nor a live bank account to take a rebate."""
    from yikatong.cards.models import Card
    from yikatong.cards.rules import CardState
    from yikatong.people.models import Person
    from yikatong.transit.models import DenyListEntry, TransitWallet

    latest_card = select(Card.asn, func.max(Card.id).label("card_id")).group_by(Card.asn).subquery()
    first_card = select(Card.person_id, func.min(Card.issue_date).label("first")).group_by(Card.person_id).subquery()
    r = ClearedRecord
    rows = uow.session.execute(
        select(r.seq, r.asn, r.tx_date, r.card_time, r.amount, r.mode, r.region, r.line, r.operator, r.card_kind,
               r.rider, Card.person_id, Card.issue_date, Card.bank_code, func.substr(Person.ssn, 1, 6),
               Person.birth_date, first_card.c.first, TransitWallet.state, DenyListEntry.asn,
               Card.card_no, Card.pan, Card.state, Card.financial_status)
        .join(latest_card, latest_card.c.asn == r.asn)
        .join(Card, Card.id == latest_card.c.card_id)
        .join(first_card, first_card.c.person_id == Card.person_id)
        .outerjoin(Person, Person.id == Card.person_id)
        .outerjoin(TransitWallet, TransitWallet.asn == r.asn)
        .outerjoin(DenyListEntry, DenyListEntry.asn == r.asn)
        .where(r.batch_id == batch_id, r.status == RecordStatus.CLEARED, r.own_card.is_(True),
               r.tx_type.not_in(list(LOAD_TYPES)), r.amount > 0)
        .order_by(r.seq)).all()
    taps, left_out = [], 0
    for (seq, asn, tx_date, card_time, amount, mode, region, line, operator, card_kind, rider, person_id, issued,
         bank_code, person_region, birth_date, first_issued, wallet_state, denied, card_no, pan, card_state,
         financial) in rows:
        wallet_ok = wallet_state != "closed" and denied is None
        account_ok = card_state == CardState.IN_USE and financial in LIVE_ACCOUNT_STATUSES
        if not (wallet_ok or account_ok):
            left_out += 1
            continue
        taps.append((rr.Tap(batch_id=batch_id, seq=seq, asn=asn, holder=f"p:{person_id}", tx_date=tx_date,
                            occurred_at_key=card_time, fare=amount, mode=mode, region=region, line=line,
                            operator=operator, card_kind=card_kind, rider=rider, card_issued_on=issued),
                     _Holder(person_id, bank_code, person_region or None, birth_date, first_issued, card_no, pan,
                             wallet_ok, account_ok)))
    return taps, left_out


def campaign_of(code: str, starts_on: date, ends_on: date, rule: dict) -> rr.Campaign:
    """A discounts campaign row's rule (JSON, checked by discounts rules.check_rule) as the pure
    rules' campaign: rate_bp (basis points of the fare), cap_fen (per tap), holder_month_fen
    (per holder per calendar month), and where the tap was: operators, modes, lines,
    tap_regions (empty: any). Who the holder is (card kind, rider category, the ID number's
    region, new holders, age) is the campaign's `eligibility`, judged by the discounts
    domain's rules.ineligible (`_admits`); its holder_limit_fen/count by budget.spend_many."""
    def words(name: str) -> frozenset[str]:
        return frozenset(str(v) for v in rule.get(name) or ())

    return rr.Campaign(
        code=code, starts_on=starts_on, ends_on=ends_on,
        rule=rr.RebateRule(percent_bp=int(rule["rate_bp"]), max_per_ride=rule.get("cap_fen"),
                           max_per_holder=rule.get("holder_month_fen")),
        where=rr.TapConditions(modes=words("modes"), tap_regions=words("tap_regions"), lines=words("lines"),
                               operators=words("operators")))


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
            card_kind=h.card_kind, rider_category=tap.rider or None, region=h.region,
            first_issued_on=h.first_issued_on,
            age=discount_rules.age_on(h.birth_date, tap.tx_date) if h.birth_date else None)
        return discount_rules.ineligible(wanted, facts) is None

    return admits


@dataclass(frozen=True)
class _Running:
    id: int
    sponsor: str
    eligibility: dict
    credit_to: str = rr.WALLET  # where its rebates go (rule credit_to)


def _running_campaigns(uow: UnitOfWork, taps: Sequence[tuple[rr.Tap, _Holder]]) -> dict[str, tuple[rr.Campaign, _Running]]:
    from yikatong.discounts.models import Campaign

    if not taps:
        return {}
    first, last = min(t.tx_date for t, _ in taps), max(t.tx_date for t, _ in taps)
    rows = uow.session.execute(
        select(Campaign).where(Campaign.kind == KIND, Campaign.status == "active", Campaign.starts_on <= last,
                               Campaign.ends_on >= first).order_by(Campaign.code)).scalars().all()
    return {c.code: (campaign_of(c.code, c.starts_on, c.ends_on, c.rule or {}),
                     _Running(c.id, c.sponsor_code, c.eligibility or {}, (c.rule or {}).get("credit_to", rr.WALLET)))
            for c in rows}


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


WALLET_PREFIX, ACCOUNT_PREFIX = "RB", "RA"  # wallet top-up orders, bank account credits


def _credit_cards(uow: UnitOfWork, actor: Actor, batch: ClearingBatch, decisions: Iterable[rr.Decision],
                  campaigns: dict[str, tuple[rr.Campaign, _Running]],
                  holders: dict[int, _Holder]) -> dict[tuple[str, str], str]:
    """Credit each card where its campaigns say (rr.destination): one paid wallet credit per
    card (written at its next contact), one bank account credit per card and sponsor (pending,
    delivered by `deliver_account_credits`); and one journal for the batch: the sponsors'
    receivables debited, the unwritten top-ups and the undelivered account rebates credited.
    Returns (campaign, asn) → the credit's reference (order no RB…, account credit RA…)."""
    decisions = [d for d in decisions if d.amount]
    if not decisions:
        return {}
    by_asn = {d.asn: holders[d.seq] for d in decisions}
    to_wallet: dict[str, Fen] = defaultdict(int)
    to_account: dict[tuple[str, str], Fen] = defaultdict(int)  # (asn, sponsor)
    where: dict[tuple[str, str], str] = {}  # (campaign, asn) -> wallet | account
    for d in decisions:
        running = campaigns[d.campaign][1]
        h = by_asn[d.asn]
        # a tap is kept only when one of the two is live (_cleared_taps)
        goes = rr.destination(running.credit_to, wallet_ok=h.wallet_ok, account_ok=h.account_ok)
        where[(d.campaign, d.asn)] = goes
        if goes == rr.WALLET:
            to_wallet[d.asn] += d.amount
        else:
            to_account[(d.asn, running.sponsor)] += d.amount
    issuers = dict(uow.session.execute(
        select(ClearedRecord.asn, func.max(ClearedRecord.issuer_id))
        .where(ClearedRecord.batch_id == batch.id, ClearedRecord.asn.in_(sorted(by_asn)))
        .group_by(ClearedRecord.asn)).all())
    now = uow.now()
    orders: dict[str, str] = {}
    for n, (asn, amount) in enumerate(sorted(to_wallet.items()), start=1):
        orders[asn] = _wallet_order(uow, actor, asn=asn, issuer_id=issuers[asn], amount=amount,
                                    order_no=f"{WALLET_PREFIX}{batch.id:08d}{n:06d}",
                                    key=f"rebate:{batch.id}:{asn}", file_id=batch.file_id)
    accounts: dict[tuple[str, str], str] = {}
    for n, ((asn, sponsor), amount) in enumerate(sorted(to_account.items()), start=1):
        h = by_asn[asn]
        request_id = f"{ACCOUNT_PREFIX}{batch.id:08d}{n:06d}"
        uow.session.add(RebateAccountCredit(
            request_id=request_id, batch_id=batch.id, file_id=batch.file_id, asn=asn, issuer_id=issuers[asn],
            card_no=h.card_no, bank_code=h.card_kind or "", pan=h.pan, sponsor_code=sponsor, amount=amount,
            state=PENDING, attempts=0, created_at=now))
        accounts[(asn, sponsor)] = request_id
    by_sponsor: dict[str, Fen] = defaultdict(int)
    for d in decisions:
        by_sponsor[campaigns[d.campaign][1].sponsor] += d.amount
    legs = [(sponsor_receivable(s), fen) for s, fen in sorted(by_sponsor.items()) if fen]
    for code, _ in legs:
        ledger.open_account(uow=uow, code=code, kind="asset")
    _open_liabilities(uow)
    if to_wallet:
        legs.append((_top_up_unwritten(), -sum(to_wallet.values())))
    if to_account:
        legs.append((ACCOUNT_REBATES_UNDELIVERED, -sum(to_account.values())))
    ledger.post(uow=uow, request_id=f"discounts:rebates:{batch.file_id}", kind="discounts.rebates_credited",
                legs=legs, memo=f"{batch.file_id}: {len(orders)} wallets / 张卡钱包, {len(accounts)} accounts / 银行账户")
    uow.session.flush()
    return {(code, asn): (orders[asn] if goes == rr.WALLET else accounts[(asn, campaigns[code][1].sponsor)])
            for (code, asn), goes in where.items()}


def _top_up_unwritten() -> str:
    from yikatong.transit import rules as transit_rules

    return transit_rules.TOP_UP_UNWRITTEN


def _open_liabilities(uow: UnitOfWork) -> None:
    from yikatong.transit import rules as transit_rules

    kind, negative = transit_rules.account_settings(transit_rules.TOP_UP_UNWRITTEN)
    ledger.open_account(uow=uow, code=transit_rules.TOP_UP_UNWRITTEN, kind=kind, allow_negative=negative)
    ledger.open_account(uow=uow, code=ACCOUNT_REBATES_UNDELIVERED, kind="liability")


def _wallet_order(uow: UnitOfWork, actor: Actor, *, asn: str, issuer_id: str, amount: Fen, order_no: str,
                  key: str, file_id: str) -> str:
    """A paid wallet credit of `amount` for the card's next contact (a top-up order, payer kind
    `rebate`): never refunded to a payer, never stale."""
    from yikatong.transit import rules as transit_rules
    from yikatong.transit.models import TopUpOrder, TransitWallet

    now = uow.now()
    wallet = uow.session.execute(select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one_or_none()
    uow.session.add(TopUpOrder(
        order_no=order_no, idempotency_key=key, request_hash="-" * 64, asn=asn,
        issuer_id=issuer_id, amount=amount, channel=str(transit_rules.TopUpChannel.ONLINE), outlet_code=None,
        payer_kind=transit_rules.REBATE_PAYER, payer_reference=f"出行优惠返还 rebate {file_id}"[:64],
        state=str(transit_rules.OrderState.PAID), balance_read=(wallet.last_balance or 0) if wallet else 0,
        acquirer=ACQUIRER, payment_reference=file_id[:64], created_by=actor.user_id,
        created_by_user_id=None, created_at=now, paid_at=now, updated_at=now, version=1))
    return order_no


# ---------------------------------------------------------------------------------------
# Delivering the rebates to bank accounts


@dataclass(frozen=True)
class AccountCreditView:
    request_id: str
    file_id: str
    card_no: str
    bank_code: str
    sponsor_code: str
    amount: Fen
    state: str
    attempts: int
    bank_reference: str | None
    reason_code: str | None
    order_no: str | None


def deliver_account_credits(platform, *, actor: Actor = JOB_ACTOR, limit: int = 200) -> int:
    """Credit the pending account rebates to the cards' bank accounts, each the way
    benefits/runs.py submits a file: the attempt is recorded and committed, the bank is asked
    (BankGateway.credit_to_account, the sponsor as payer, the credit's request id as the bank's
    idempotency key) with no platform transaction open, and its answer is recorded in a
    transaction of its own, once (a conditional UPDATE from `pending`). A bank that does not
    answer (BankUnavailable) or a crash before the answer is recorded leaves the credit pending:
    the next run asks again with the same request id and the bank answers its first result, so
    nothing is credited twice. Posted or held: done (the sponsor paid it at its bank). Refused
    (account closed, frozen, unknown): the rebate goes to the card's wallet instead, or, the
    wallet closed too, it is undeliverable (reported; nothing is owed by the sponsor). Returns
    how many answers were recorded."""
    from yikatong.cards.protocols import BankGateway, BankRefused, BankUnavailable

    with platform.uow(read_only=True) as uow:
        ids = list(uow.session.execute(select(RebateAccountCredit.id).where(RebateAccountCredit.state == PENDING)
                                       .order_by(RebateAccountCredit.id).limit(limit)).scalars())
    done = 0
    for credit_id in ids:
        with platform.uow() as uow:  # the attempt, recorded before the bank is asked
            row = uow.session.get(RebateAccountCredit, credit_id)
            if row is None or row.state != PENDING:
                continue
            row.attempts += 1
            row.last_attempt_at = uow.now()
            ask = {"bank_code": row.bank_code, "pan": row.pan, "amount_fen": row.amount,
                   "request_id": row.request_id, "payer_code": row.sponsor_code,
                   "reference": f"出行优惠返还 rebate {row.file_id}"[:64]}
            uow.commit()
        try:
            answer = platform.get(BankGateway).credit_to_account(**ask)
        except BankUnavailable:
            log.info("bank %s did not answer rebate credit %s; the next run asks again", ask["bank_code"],
                     ask["request_id"])
            continue
        except BankRefused as error:  # bad input or a reused request id: a platform fault, kept pending
            log.error("bank %s refused rebate credit %s as a request: %s", ask["bank_code"], ask["request_id"],
                      error)
            continue
        killpoint("rebate_credit.answered")
        try:
            with platform.uow() as uow:
                if _record_answer(uow, actor, credit_id, answer):
                    done += 1
                uow.commit()
        except DomainError as error:  # recorded by a later run (the bank answers the same again)
            log.error("the answer to rebate credit %s was not recorded: %s", ask["request_id"], error)
    return done


def _record_answer(uow: UnitOfWork, actor: Actor, credit_id: int, answer) -> bool:
    """The bank's answer to one account credit, recorded once (False: already recorded)."""
    from yikatong.transit.models import DenyListEntry, TransitWallet

    row = uow.session.get(RebateAccountCredit, credit_id)
    order_no = None
    if answer.status in (POSTED, HELD):
        state = answer.status
    else:
        wallet = uow.session.execute(select(TransitWallet.state).where(TransitWallet.asn == row.asn)).scalar()
        denied = uow.session.execute(select(DenyListEntry.asn).where(DenyListEntry.asn == row.asn)).scalar()
        state = TO_WALLET if wallet != "closed" and denied is None else UNDELIVERABLE
    changed = uow.session.execute(
        update(RebateAccountCredit).where(RebateAccountCredit.id == credit_id, RebateAccountCredit.state == PENDING)
        .values(state=state, bank_reference=answer.bank_reference, reason_code=answer.reason_code,
                reason_zh=answer.reason_zh, reason_en=answer.reason_en, answered_at=uow.now())
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        return False
    _open_liabilities(uow)
    ledger.open_account(uow=uow, code=sponsor_receivable(row.sponsor_code), kind="asset")
    if state == TO_WALLET:
        order_no = _wallet_order(uow, actor, asn=row.asn, issuer_id=row.issuer_id, amount=row.amount,
                                 order_no=f"{WALLET_PREFIX}A{row.id:013d}", key=f"rebate-account:{row.request_id}",
                                 file_id=row.file_id)
        uow.session.execute(update(RebateAccountCredit).where(RebateAccountCredit.id == credit_id)
                            .values(order_no=order_no).execution_options(synchronize_session=False))
        other = _top_up_unwritten()  # the platform funds the wallet credit: the receivable stays
    else:  # paid by the sponsor at its bank, or never paid: the sponsor owes the platform nothing
        other = sponsor_receivable(row.sponsor_code)
    ledger.post(uow=uow, request_id=f"discounts:rebate_credit:{row.request_id}",
                kind=f"discounts.rebate_{state}", legs=[(ACCOUNT_REBATES_UNDELIVERED, row.amount),
                                                               (other, -row.amount)],
                memo=f"{row.request_id} {row.card_no}")
    uow.audit(actor=actor, action="discounts.rebate_account_credit", entity_type="discount_rebate_account_credit",
              entity_id=row.request_id, before={"state": PENDING},
              after={"state": state, "amount": row.amount, "card_no": row.card_no, "bank_code": row.bank_code,
                     "sponsor_code": row.sponsor_code, "bank_reference": answer.bank_reference,
                     "reason_code": answer.reason_code, "order_no": order_no, "attempts": row.attempts})
    return True


def account_credits(*, uow: UnitOfWork, state: str | None = None, limit: int = 100) -> list[AccountCreditView]:
    """Rebates to bank accounts, newest first (optionally in one state)."""
    query = select(RebateAccountCredit).order_by(RebateAccountCredit.id.desc()).limit(limit)
    if state:
        query = query.where(RebateAccountCredit.state == state)
    return [AccountCreditView(r.request_id, r.file_id, r.card_no, r.bank_code, r.sponsor_code, r.amount, r.state,
                              r.attempts, r.bank_reference, r.reason_code, r.order_no)
            for r in uow.session.execute(query).scalars()]


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
                   left_out=int(summary.get("left_out", summary.get("wallet_closed", 0))), run_at=run.run_at,
                   replayed=replayed, account_credits=int(summary.get("account_credits", 0)))
