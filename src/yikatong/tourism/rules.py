"""Pure rules of tourism: pass activation and validity, free categories by age, what lets a
person in (and what refuses them), ticket numbers and bank request ids. No database, no clock
(time is passed in). Figures are example defaults (docs/domain-rules.md §7)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class ProductKind(StrEnum):
    DAY_TICKET = "day_ticket"   # 门票: one venue, one day, one time slot, one entry
    PASS = "pass"               # 年卡/季卡: real-name, one entry per venue per day while valid


class TicketStatus(StrEnum):
    VALID = "valid"         # sold, not used (a pass stays valid while it can be used)
    USED = "used"           # a day ticket that let its holder in
    REFUNDED = "refunded"   # given back unused


class Payment(StrEnum):
    BANK = "bank"       # the card's bank account (BankGateway.pay_from_account)
    WALLET = "wallet"   # the T-Union wallet: a purchase at the venue's terminal, cleared later


class Refusal(StrEnum):
    """Why a gate (or the platform, online) refuses someone; also the exception code of an
    uploaded offline entry that broke a rule (recorded all the same, flagged)."""

    NO_ENTITLEMENT = "no_entitlement"        # no ticket, pass or free category for here today
    ALREADY_ENTERED = "already_entered"      # the pass was used at this venue today
    TICKET_USED = "ticket_used"              # the day ticket let someone in already
    TICKET_REFUNDED = "ticket_refunded"
    WRONG_DAY = "wrong_day"                  # a ticket for another day
    WRONG_VENUE = "wrong_venue"
    PASS_NOT_VALID = "pass_not_valid"        # not yet activated in time, or expired
    CARD_NOT_VALID = "card_not_valid"        # lost, retired, unknown card
    NOT_FREE = "not_free"                    # claimed a free category the person is not in


REFUSAL_WORDS = {
    Refusal.NO_ENTITLEMENT: ("今日无本景区有效门票、年卡或免票资格", "no ticket, pass or free entry for this venue today"),
    Refusal.ALREADY_ENTERED: ("该年卡今日已在本景区入园", "the pass was already used here today"),
    Refusal.TICKET_USED: ("门票已使用", "the ticket was already used"),
    Refusal.TICKET_REFUNDED: ("门票已退", "the ticket was refunded"),
    Refusal.WRONG_DAY: ("门票日期不符", "the ticket is for another day"),
    Refusal.WRONG_VENUE: ("门票不适用于本景区", "the ticket is for another venue"),
    Refusal.PASS_NOT_VALID: ("年卡未激活或已过期", "the pass is not activated or has expired"),
    Refusal.CARD_NOT_VALID: ("卡片已挂失、停用或无效", "the card is lost, retired or unknown"),
    Refusal.NOT_FREE: ("不符合免票条件", "not in a free category"),
}

KIND_WORDS = {ProductKind.DAY_TICKET: ("门票", "day ticket"), ProductKind.PASS: ("年卡", "pass")}
STATUS_WORDS = {TicketStatus.VALID: ("有效", "valid"), TicketStatus.USED: ("已使用", "used"),
                TicketStatus.REFUNDED: ("已退票", "refunded")}

# Tickets go on sale this many days ahead (example default).
SALE_DAYS_AHEAD = 30


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + timedelta(days=day.day - 1),
               following - timedelta(days=1))


def activate_by(sold_on: date, activation_months: int) -> date:
    """The last day a pass sold on `sold_on` may be activated (3 months, example default)."""
    return add_months(sold_on, activation_months)


def validity(activated_on: date, valid_months: int) -> tuple[date, date]:
    """First and last day of a pass activated on `activated_on` (valid 1 year: to the day
    before the same date a year later)."""
    return activated_on, add_months(activated_on, valid_months) - timedelta(days=1)


def pass_usable(*, status: str, activate_by_day: date | None, valid_from: date | None,
                valid_until: date | None, day: date) -> bool:
    """Whether a pass can let its holder in on `day`: valid and either activated and within
    its year, or not yet activated and still inside its activation window (the first entry
    activates it)."""
    if status != TicketStatus.VALID:
        return False
    if valid_from is not None:
        return valid_from <= day <= (valid_until or day)
    return activate_by_day is not None and day <= activate_by_day


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def free_category(categories: list[dict], birth: date | None, day: date) -> str | None:
    """The first free category the venue declares that a person born on `birth` is in on
    `day` (by age: `min_age` and/or `max_age`, whole years), else None."""
    return free_category_by_age(categories, age_on(birth, day) if birth is not None else None)


def free_category_by_age(categories, age: int | None) -> str | None:
    """The first category a person of `age` (whole years) is in. An unknown age (a number
    that carries no birth date) is only in a category open to every age (min_age 0, no
    max_age: "everyone")."""
    for category in categories:
        low, high = category.get("min_age"), category.get("max_age")
        if low is None and high is None:
            continue
        if age is None:
            if not low and high is None:
                return category["code"]
            continue
        if (low is None or age >= low) and (high is None or age <= high):
            return category["code"]
    return None


@dataclass(frozen=True)
class Candidate:
    """One ticket or pass of the person, as the admission rule sees it."""

    ticket_no: str
    kind: str
    status: str
    venue_codes: tuple[str, ...]
    day: date | None
    activate_by: date | None
    valid_from: date | None
    valid_until: date | None


def choose_ground(candidates: list[Candidate], *, venue_code: str, day: date,
                  entered_today: set[str], free: str | None) -> tuple[str, str] | Refusal:
    """What lets the person in at `venue_code` on `day`: (ground, reference) — a day ticket
    for here and today not used, else a usable pass not used here today, else the free
    category — or the most telling refusal."""
    refusals: list[Refusal] = []
    for c in candidates:
        if c.kind != ProductKind.DAY_TICKET:
            continue
        if venue_code not in c.venue_codes:
            continue
        if c.day != day:
            refusals.append(Refusal.WRONG_DAY)
        elif c.status == TicketStatus.USED:
            refusals.append(Refusal.TICKET_USED)
        elif c.status == TicketStatus.REFUNDED:
            refusals.append(Refusal.TICKET_REFUNDED)
        else:
            return "ticket", c.ticket_no
    for c in candidates:
        if c.kind != ProductKind.PASS or venue_code not in c.venue_codes:
            continue
        if not pass_usable(status=c.status, activate_by_day=c.activate_by, valid_from=c.valid_from,
                           valid_until=c.valid_until, day=day):
            refusals.append(Refusal.PASS_NOT_VALID)
        elif c.ticket_no in entered_today:
            refusals.append(Refusal.ALREADY_ENTERED)
        else:
            return "pass", c.ticket_no
    if free is not None:
        return "free", free
    order = [Refusal.ALREADY_ENTERED, Refusal.TICKET_USED, Refusal.PASS_NOT_VALID,
             Refusal.TICKET_REFUNDED, Refusal.WRONG_DAY]
    return next((r for r in order if r in refusals), Refusal.NO_ENTITLEMENT)


def check_entry(candidate: Candidate | None, *, ground: str, venue_code: str, day: date,
                entered_today: bool, free_ok: bool) -> Refusal | None:
    """For an uploaded entry on a named ground: the rule it broke, or None. A day ticket must
    be for here and that day and not used by another entry; a pass usable and not used here
    that day; a free entry for a person in a category."""
    if ground == "free":
        return None if free_ok else Refusal.NOT_FREE
    if candidate is None:
        return Refusal.NO_ENTITLEMENT
    if venue_code not in candidate.venue_codes:
        return Refusal.WRONG_VENUE
    if candidate.status == TicketStatus.REFUNDED:
        return Refusal.TICKET_REFUNDED
    if ground == "ticket":
        if candidate.day != day:
            return Refusal.WRONG_DAY
        if candidate.status == TicketStatus.USED:
            return Refusal.TICKET_USED
        return None
    if not pass_usable(status=candidate.status, activate_by_day=candidate.activate_by,
                       valid_from=candidate.valid_from, valid_until=candidate.valid_until, day=day):
        return Refusal.PASS_NOT_VALID
    if entered_today:
        return Refusal.ALREADY_ENTERED
    return None


def ticket_no(kind: str, sold_at: datetime, row_id: int) -> str:
    """MP20261205000123 for a day ticket (门票), NK… for a pass (年卡)."""
    prefix = "MP" if kind == ProductKind.DAY_TICKET else "NK"
    return f"{prefix}{sold_at:%Y%m%d}{row_id:06d}"


def payment_request_id(key: str) -> str:
    """The bank request id of a sale: stable per idempotency key, at most 64 characters (a
    long key is carried as its SHA-256, never cut short)."""
    whole = f"tourism:{key}"
    if len(whole) <= 64:
        return whole
    return "tourism:" + hashlib.sha256(key.encode()).hexdigest()[:48]


def refund_request_id(ticket: str) -> str:
    return f"tourism-refund:{ticket}"


def slot_allows(slot: str, at_minutes: int) -> bool:
    """Whether a time of day (minutes after midnight) falls in "HH:MM-HH:MM"."""
    start, end = slot.split("-")
    low = int(start[:2]) * 60 + int(start[3:])
    high = int(end[:2]) * 60 + int(end[3:])
    return low <= at_minutes < high


def valid_slot(slot: str) -> bool:
    try:
        start, end = slot.split("-")
        return (len(start) == len(end) == 5 and start < end
                and all(0 <= int(x[:2]) <= 24 and 0 <= int(x[3:]) < 60 and x[2] == ":" for x in (start, end)))
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------
# Splitting a pass's revenue between the venues it opens (清分)


class SplitBasis(StrEnum):
    ENTRIES = "entries"   # the settlement period's entries of the product's holders, venue by venue
    FIXED = "fixed"       # fixed shares in basis points per venue (`shares_bp`, summing to 10 000)


BP_WHOLE = 10_000
DEFAULT_SPLIT = {"basis": SplitBasis.ENTRIES.value}  # a pass with no rule of its own


def split_problem(rule: object, venue_codes: list[str] | tuple[str, ...]) -> tuple[str, str] | None:
    """Why a pass's split rule is not usable (zh, en), or None. `{"basis": "entries"}`, or
    `{"basis": "fixed", "shares_bp": {venue: bp, …}}` naming exactly the product's venues with
    whole, non-negative basis points summing to 10 000."""
    if not isinstance(rule, dict) or rule.get("basis") not in set(SplitBasis):
        return "分账规则须为 entries 或 fixed", "the split basis must be entries or fixed"
    if rule["basis"] == SplitBasis.ENTRIES:
        if set(rule) - {"basis"}:
            return "按入园分账不带份额", "a split by entries takes no shares"
        return None
    shares = rule.get("shares_bp")
    if set(rule) - {"basis", "shares_bp"} or not isinstance(shares, dict):
        return "固定分账须列出各景区的份额（基点）", "a fixed split lists each venue's share in basis points"
    if set(shares) != set(venue_codes):
        return "固定分账须恰好列出本产品的景区", "a fixed split names exactly the product's venues"
    if any(not isinstance(bp, int) or isinstance(bp, bool) or bp < 0 for bp in shares.values()):
        return "份额须为非负整数基点", "shares are whole non-negative basis points"
    if sum(shares.values()) != BP_WHOLE:
        return "份额合计须为 10000 基点", "the shares must sum to 10 000 basis points"
    return None


def split_weights(rule: dict | None, venue_codes: list[str] | tuple[str, ...],
                  entries: dict[str, int]) -> dict[str, int]:
    """Each venue's weight for a settlement period, in the product's venue order: its fixed
    basis points, or its entries in the period (`entries`: venue → count). A split by entries
    with no entry at all in the period weighs the venues equally (nobody came: nobody earned
    more than another)."""
    rule = rule or DEFAULT_SPLIT
    if rule.get("basis") == SplitBasis.FIXED:
        return {v: int(rule["shares_bp"].get(v, 0)) for v in venue_codes}
    counted = {v: max(0, int(entries.get(v, 0))) for v in venue_codes}
    if not any(counted.values()):
        return dict.fromkeys(venue_codes, 1)
    return counted


def split_fen(amount: int, weights: dict[str, int]) -> dict[str, int]:
    """`amount` fen in whole fen by `weights` (insertion order = the product's venue order),
    summing exactly to `amount`. The remainder rule (largest remainder): each venue first gets
    floor(amount × weight / total); the fen left over (fewer than the venues) go one each to
    the venues with the largest remainders, a tie to the venue listed first. A venue of weight
    0 gets 0; all weights 0 counts as equal weights."""
    if amount < 0:
        raise ValueError("a negative amount is not split")
    if not weights:
        raise ValueError("nothing to split between")
    if not any(weights.values()):
        weights = dict.fromkeys(weights, 1)
    if any(w < 0 for w in weights.values()):
        raise ValueError("a negative weight")
    total = sum(weights.values())
    shares = {v: amount * w // total for v, w in weights.items()}
    left = amount - sum(shares.values())
    order = sorted(enumerate(weights.items()), key=lambda item: (-(amount * item[1][1] % total), item[0]))
    for _, (venue, _) in order[:left]:
        shares[venue] += 1
    return shares


def seller_due_account(operator_code: str) -> str:
    """Asset: what a seller collected at its own bank for other operators' venues (a
    bank-paid pass's shares: the money never sat on the platform, so it is owed by the seller)."""
    return f"tourism:due_from:{operator_code}"


def venue_payable_account(operator_code: str) -> str:
    """Liability: what a venue operator is owed for its venues' shares of bank-paid passes
    sold by another operator."""
    return f"tourism:payable:{operator_code}"
