"""Travel discounts on transit (出行优惠, seed 三.8) as rebates: the pure rules.

Validators price fares offline and know nothing of campaigns, so a travel discount is a rebate
worked out after clearing: each cleared tap of one of our cards that a running transit-rebate
campaign covers earns part of its fare back, credited to the holder later (rebates.py).

Everything here is pure (no database, no clock): `rebates_for` takes the batch's taps, the
campaigns, what each holder already had this period and what each campaign's budget can still
give, and answers one `Decision` per (campaign, tap). The same inputs always give the same
answer (taps are taken in the order they happened, then by their record line), which is what
makes a re-run or a crash-and-retry of a batch harmless.

A rule: `percent_bp` of the fare (basis points: 5000 = 50 %), at most `max_per_ride` fen a
ride, at most `max_per_holder` fen per holder per `holder_period` (month or campaign). The
budget is spent in tap order; the tap that meets the end of it gets what is left, the taps
after it get nothing (`budget_exhausted`), and that is reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from yikatong.core.money import Fen

BASIS_POINTS = 10_000


class HolderPeriod(StrEnum):
    MONTH = "month"        # the per-holder limit starts again each calendar month (CST)
    CAMPAIGN = "campaign"  # one limit for the whole campaign


class Outcome(StrEnum):
    GRANTED = "granted"                    # amount > 0 credited
    HOLDER_LIMIT = "holder_limit"          # the holder had the period's limit already
    BUDGET_EXHAUSTED = "budget_exhausted"  # the campaign's budget ran out before this tap
    CAMPAIGN_CLOSED = "campaign_closed"    # the budget refused: the campaign is paused, closed or over


@dataclass(frozen=True)
class TapConditions:
    """Where the tap was, from the cleared record (the transit rule's `operators`, `modes`,
    `lines`, `tap_regions`). An empty set means "any". Who the holder is (card kind, rider
    category, region, new holders, age) is the campaign's eligibility, judged by the discounts
    domain's rules.ineligible through `admits` (rebates_for)."""

    modes: frozenset[str] = frozenset()        # bus | metro | …
    tap_regions: frozenset[str] = frozenset()  # the tap's region code (the validator's city)
    lines: frozenset[str] = frozenset()
    operators: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RebateRule:
    percent_bp: int                       # of the fare, in basis points (1..10000)
    max_per_ride: Fen | None = None       # fen per tap
    max_per_holder: Fen | None = None     # fen per holder per period
    holder_period: HolderPeriod = HolderPeriod.MONTH

    def __post_init__(self) -> None:
        if not 0 < self.percent_bp <= BASIS_POINTS:
            raise ValueError("percent_bp must be in 1..10000")
        for name in ("max_per_ride", "max_per_holder"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be whole fen ≥ 0")

    def per_ride(self, fare: Fen) -> Fen:
        """The rebate of one fare before the holder's and the budget's limits (rounded down)."""
        amount = fare * self.percent_bp // BASIS_POINTS
        return amount if self.max_per_ride is None else min(amount, self.max_per_ride)


@dataclass(frozen=True)
class Campaign:
    """A running transit-rebate campaign as the rules need it."""

    code: str
    starts_on: date
    ends_on: date          # inclusive
    rule: RebateRule
    where: TapConditions = field(default_factory=TapConditions)


@dataclass(frozen=True)
class Tap:
    """A cleared purchase of one of our cards (a record line: batch id + sequence number)."""

    batch_id: int
    seq: int
    asn: str
    holder: str              # "p:<person id>" when the registry knows the card, else "asn:<asn>"
    tx_date: date            # CST
    occurred_at_key: str     # the card's date-time YYYYMMDDhhmmss (orders the taps)
    fare: Fen
    mode: str
    region: str
    line: str
    operator: str
    card_kind: str
    rider: str
    card_issued_on: date | None = None


@dataclass(frozen=True)
class Decision:
    campaign: str
    batch_id: int
    seq: int
    asn: str
    holder: str
    period: str
    fare: Fen
    wanted: Fen      # the rule's rebate after the holder's limit
    amount: Fen      # what is credited (≤ wanted; less only when the budget ran out)
    outcome: Outcome


def period_of(rule: RebateRule, day: date) -> str:
    return f"{day:%Y-%m}" if rule.holder_period is HolderPeriod.MONTH else "campaign"


def eligible(campaign: Campaign, tap: Tap) -> bool:
    """The tap lies in the campaign's period, paid a fare, and was where the rule says."""
    w = campaign.where
    if tap.fare <= 0 or not campaign.starts_on <= tap.tx_date <= campaign.ends_on:
        return False
    checks = ((w.modes, tap.mode), (w.tap_regions, tap.region), (w.lines, tap.line), (w.operators, tap.operator))
    return not any(allowed and value not in allowed for allowed, value in checks)


def ordered(taps: Iterable[Tap]) -> list[Tap]:
    return sorted(taps, key=lambda t: (t.occurred_at_key, t.batch_id, t.seq))


def rebates_for(taps: Sequence[Tap], campaigns: Sequence[Campaign],
                holder_used: Mapping[tuple[str, str, str], Fen],
                budget_left: Mapping[str, Fen | None],
                admits: Callable[[Campaign, Tap], bool] | None = None) -> list[Decision]:
    """One decision per (campaign, eligible tap) whose rule gives something.

    `holder_used[(campaign, holder, period)]` is what the holder already had (earlier
    batches); `budget_left[campaign]` what the budget can still give (None: no limit here, the
    spend function decides); `admits(campaign, tap)`, when given, is the holder's eligibility
    beyond the tap's own fields (the discounts domain's rules.ineligible). Taps whose rebate is 0 after the per-ride rule make no decision;
    a holder at the limit or a budget at its end does (amount 0), so it is reported."""
    decisions: list[Decision] = []
    for campaign in sorted(campaigns, key=lambda c: c.code):
        used: dict[tuple[str, str], Fen] = defaultdict(int)
        left = budget_left.get(campaign.code)
        rule = campaign.rule
        for tap in ordered(t for t in taps if eligible(campaign, t) and (admits is None or admits(campaign, t))):
            base = rule.per_ride(tap.fare)
            if base <= 0:
                continue
            period = period_of(rule, tap.tx_date)
            key = (tap.holder, period)
            had = holder_used.get((campaign.code, tap.holder, period), 0) + used[key]
            wanted = base if rule.max_per_holder is None else max(0, min(base, rule.max_per_holder - had))
            if wanted == 0:
                outcome, amount = Outcome.HOLDER_LIMIT, 0
            else:
                amount = wanted if left is None else min(wanted, left)
                outcome = Outcome.GRANTED if amount > 0 else Outcome.BUDGET_EXHAUSTED
            if left is not None:
                left -= amount
            used[key] += amount
            decisions.append(Decision(campaign.code, tap.batch_id, tap.seq, tap.asn, tap.holder, period, tap.fare,
                                      wanted, amount, outcome))
    return decisions


def wanted_per_campaign(decisions: Iterable[Decision]) -> dict[str, Fen]:
    totals: dict[str, Fen] = defaultdict(int)
    for d in decisions:
        totals[d.campaign] += d.wanted
    return dict(totals)


def credits_per_card(decisions: Iterable[Decision]) -> dict[str, Fen]:
    """What each card gets from the batch, all campaigns together (one wallet credit a card)."""
    totals: dict[str, Fen] = defaultdict(int)
    for d in decisions:
        if d.amount:
            totals[d.asn] += d.amount
    return dict(sorted(totals.items()))


WALLET, ACCOUNT = "wallet", "account"


def destination(preferred: str, *, wallet_ok: bool, account_ok: bool) -> str | None:
    """Where a card's rebate goes: where the campaign says (`wallet` or `account`) when that is
    live, else the other one when it is, else nowhere (None: the tap is not rebated). A wallet
    is live unless closed or deny-listed; a bank account when the card is in use and its
    account is active (a loss does not stop money in; one not yet activated would hold it)."""
    ok = {WALLET: wallet_ok, ACCOUNT: account_ok}
    if ok[preferred]:
        return preferred
    other = ACCOUNT if preferred == WALLET else WALLET
    return other if ok[other] else None
