"""The rules of discount campaigns as plain functions: the kinds, what a 满减 rule takes off an
order, what a transit rebate gives back, who is eligible. No database here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from yikatong.core.money import Fen
from yikatong.discounts.errors import CampaignInvalid

MAX_BUDGET_FEN = 10_000_000_000  # 1 亿元: a bound on one campaign's budget


class Kind(StrEnum):
    TRANSIT_REBATE = "transit_rebate"    # 出行优惠: computed at clearing, credited back (rebates.py)
    SPEND_REDUCTION = "spend_reduction"  # 消费满减 at enrolled merchants' tills
    TOURISM_VOUCHER = "tourism_voucher"  # 旅游专享抵扣券, redeemed at venues


KIND_WORDS = {Kind.TRANSIT_REBATE: ("出行优惠", "transit rebate"),
              Kind.SPEND_REDUCTION: ("消费满减", "spend-threshold reduction"),
              Kind.TOURISM_VOUCHER: ("旅游专享抵扣券", "tourism voucher")}


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"


STATUS_WORDS = {Status.ACTIVE: ("进行中", "running"), Status.PAUSED: ("已暂停", "paused"),
                Status.CLOSED: ("已结束", "closed")}

# What each kind's rule holds (all fen / basis points, integers).
RULE_FIELDS = {
    # tiers: [[threshold_fen, reduction_fen], ...] the highest tier the order reaches applies;
    # per_each: "每满 X 减 Y" — the first tier applied once per whole threshold, up to cap_fen.
    Kind.SPEND_REDUCTION: {"tiers", "per_each", "cap_fen"},
    # rate_bp of the fare back (e.g. 2000 = 20 %), at most cap_fen a tap (rebates.py applies it);
    # holder_month_fen at most per holder per calendar month; where the tap was (TAP_FIELDS);
    # credit_to: where the rebates go (CreditTo).
    Kind.TRANSIT_REBATE: {"rate_bp", "cap_fen", "holder_month_fen", "credit_to", "operators", "modes", "lines",
                          "tap_regions"},
    # face_fen a voucher, usable from min_order_fen, for valid_days after issue at operator_codes
    # (empty: any venue enrolled).
    Kind.TOURISM_VOUCHER: {"face_fen", "min_order_fen", "valid_days", "operator_codes"},
}
# Where a transit tap was, as the cleared record says: the operator, the mode (bus, metro), the
# line and the tap's region code (the validator's city, e.g. 3040 Changzhou). Conditions of a
# transit rebate's rule only: a till's order or a voucher has no tap.
TAP_FIELDS = ("operators", "modes", "lines", "tap_regions")


class CreditTo(StrEnum):
    """Where a transit rebate campaign's rebates go (rule `credit_to`)."""

    WALLET = "wallet"    # a pending credit the card's next online contact writes (default)
    ACCOUNT = "account"  # the card's bank account (BankGateway.credit_to_account, the sponsor pays)


# Who may benefit, the same for every kind (rules.ineligible on HolderFacts):
#   card_kinds        the card's kind: the partner bank whose co-branded social security card it
#                     is (cards.Card.bank_code, a code of the bank directory: ICBC, BOC …)
#   rider_categories  the transit rider category (adult, student, senior_70, disabled): the one
#                     the validator read and charged the fare by for a tap, the registry's today
#                     for a till or a voucher
#   regions           the holder's region: the first digits of the ID number (3204 Changzhou)
#   new_holders_since the person's first card issued on or after this day
#   min_age, max_age  the holder's age (on the tap's day, or today)
ELIGIBILITY_FIELDS = {"card_kinds", "rider_categories", "regions", "new_holders_since", "min_age", "max_age"}
RIDER_CATEGORIES = ("adult", "student", "senior_70", "disabled")  # transit.fare_rules.RiderCategory


@dataclass(frozen=True)
class HolderFacts:
    """What eligibility looks at, the same for every kind: the card's kind (the partner bank
    whose co-branded social security card it is: the card presented at a till, the holder's
    current card for a voucher, the card that tapped for a rebate), the transit rider category
    (the registry's today; for a tap the one the validator read), the region of the ID number's
    issuing authority (its first digits, 3204 = Changzhou), the day the person's first card was
    issued, the age."""

    card_kind: str | None
    rider_category: str | None
    region: str | None
    first_issued_on: date | None
    age: int | None


def check_rule(kind: str, rule: dict) -> dict:
    """The rule, checked and normalised; CampaignInvalid names what is wrong."""
    try:
        kind = Kind(kind)
    except ValueError:
        raise _invalid(f"未知活动类型 {kind}", f"unknown kind {kind}") from None
    unknown = set(rule) - RULE_FIELDS[kind]
    if misplaced := sorted(unknown & set(TAP_FIELDS)):
        raise _invalid(f"{misplaced} 是乘车地点条件，只适用于出行优惠活动的规则",
                       f"{misplaced} say where a tap was: only a transit rebate's rule takes them")
    if "card_kinds" in unknown:
        raise _invalid("卡类型（card_kinds）是参与条件，请写在 eligibility 中",
                       "card_kinds is an eligibility condition: put it in eligibility")
    if unknown:
        raise _invalid(f"未知规则项 {sorted(unknown)}", f"unknown rule fields {sorted(unknown)}")
    if kind is Kind.SPEND_REDUCTION:
        tiers = rule.get("tiers") or []
        if not tiers or not all(isinstance(t, list | tuple) and len(t) == 2 and all(
                isinstance(v, int) and v > 0 for v in t) for t in tiers):
            raise _invalid("满减档位须为 [门槛分, 减免分] 的正整数列表",
                           "tiers must be [threshold_fen, reduction_fen] pairs of positive integers")
        if any(reduction >= threshold for threshold, reduction in tiers):
            raise _invalid("减免须小于门槛", "a reduction must be below its threshold")
        out = {"tiers": sorted([list(t) for t in tiers]), "per_each": bool(rule.get("per_each")),
               "cap_fen": _positive_or_none(rule.get("cap_fen"), "cap_fen")}
        return out
    if kind is Kind.TRANSIT_REBATE:
        rate = rule.get("rate_bp")
        if not isinstance(rate, int) or not 0 < rate <= 10_000:
            raise _invalid("返还比例须为 1–10000 个基点", "rate_bp must be 1–10000")
        credit_to = rule.get("credit_to") or CreditTo.WALLET
        if credit_to not in tuple(CreditTo):
            raise _invalid("返还去向须为 wallet（钱包）或 account（银行账户）",
                           "credit_to must be wallet or account")
        out = {"rate_bp": rate, "cap_fen": _positive_or_none(rule.get("cap_fen"), "cap_fen"),
               "holder_month_fen": _positive_or_none(rule.get("holder_month_fen"), "holder_month_fen"),
               "credit_to": str(credit_to),
               **{name: _words(rule.get(name), name, 32 if name == "operators" else 16) for name in TAP_FIELDS}}
        return {name: value for name, value in out.items() if value not in (None, [])}  # what was given
    face = rule.get("face_fen")
    if not isinstance(face, int) or face <= 0:
        raise _invalid("券面额须大于零", "face_fen must be above zero")
    days = rule.get("valid_days", 30)
    if not isinstance(days, int) or not 0 < days <= 366:
        raise _invalid("有效天数须为 1–366", "valid_days must be 1–366")
    min_order = rule.get("min_order_fen", 0) or 0
    if not isinstance(min_order, int) or min_order < 0:
        raise _invalid("使用门槛不可为负", "min_order_fen must not be negative")
    return {"face_fen": face, "min_order_fen": min_order, "valid_days": days,
            "operator_codes": [str(v)[:32] for v in rule.get("operator_codes") or []]}


def check_eligibility_rule(eligibility: dict, *, card_kinds: Iterable[str]) -> dict:
    """Who may benefit, checked and normalised; the same conditions for every kind (a tap's
    place is the transit rule's, not eligibility). `card_kinds` are the kinds a card can be
    (the partner banks' codes). CampaignInvalid names what is wrong: an unknown or misplaced
    condition, an unknown card kind or rider category, a region that is not digits."""
    unknown = set(eligibility) - ELIGIBILITY_FIELDS
    if misplaced := sorted(unknown & set(TAP_FIELDS)):
        raise _invalid(f"{misplaced} 是乘车地点条件，请写在出行优惠活动的规则（rule）中",
                       f"{misplaced} say where a tap was: they belong to a transit rebate's rule")
    if "bank_codes" in unknown:
        raise _invalid("合作银行条件称为卡类型 card_kinds（发卡合作银行代码）",
                       "the partner bank's card is the card kind: card_kinds (bank codes)")
    if unknown:
        raise _invalid(f"未知参与条件 {sorted(unknown)}", f"unknown eligibility fields {sorted(unknown)}")
    out: dict = {}
    if kinds := _words(eligibility.get("card_kinds"), "card_kinds", 16):
        known = set(card_kinds)
        if strange := sorted(set(kinds) - known):
            raise _invalid(f"未知卡类型 card_kinds {strange}（须为合作银行代码：{'、'.join(sorted(known))}）",
                           f"unknown card_kinds {strange} (partner bank codes: {', '.join(sorted(known))})")
        out["card_kinds"] = kinds
    if riders := _words(eligibility.get("rider_categories"), "rider_categories", 16):
        if strange := sorted(set(riders) - set(RIDER_CATEGORIES)):
            raise _invalid(f"未知乘客类别 {strange}", f"unknown rider categories {strange} "
                                                   f"(one of {', '.join(RIDER_CATEGORIES)})")
        out["rider_categories"] = riders
    if regions := _words(eligibility.get("regions"), "regions", 6):
        if not all(r.isdigit() and 2 <= len(r) <= 6 for r in regions):
            raise _invalid("地区须为身份证号码前 2–6 位数字（如 3204）",
                           "a region is the first 2–6 digits of the ID number (e.g. 3204)")
        out["regions"] = regions
    if eligibility.get("new_holders_since"):
        try:
            out["new_holders_since"] = date.fromisoformat(str(eligibility["new_holders_since"])).isoformat()
        except ValueError:
            raise _invalid("新持卡人起始日须为 YYYY-MM-DD", "new_holders_since must be YYYY-MM-DD") from None
    for name in ("min_age", "max_age"):
        if eligibility.get(name) is not None:
            value = eligibility[name]
            if not isinstance(value, int) or not 0 <= value <= 150:
                raise _invalid(f"{name} 须为 0–150", f"{name} must be 0–150")
            out[name] = value
    if out.get("min_age", 0) > out.get("max_age", 150):
        raise _invalid("最低年龄高于最高年龄", "min_age is above max_age")
    return out


def ineligible(eligibility: dict, facts: HolderFacts) -> tuple[str, str] | None:
    """Why the holder is not eligible (zh, en), or None when they are. A condition the
    campaign does not set admits everybody."""
    if (kinds := eligibility.get("card_kinds")) and facts.card_kind not in kinds:
        return "卡类型不符（限指定合作银行的社保卡）", "the card kind does not qualify (the named partner banks' cards only)"
    if (riders := eligibility.get("rider_categories")) and facts.rider_category not in riders:
        return "乘客类别不符", "the rider category does not qualify"
    if (regions := eligibility.get("regions")) and not any(
            (facts.region or "").startswith(r) for r in regions):
        return "地区不符", "the region does not qualify"
    if (since := eligibility.get("new_holders_since")) and (
            facts.first_issued_on is None or facts.first_issued_on < date.fromisoformat(since)):
        return "仅限新持卡人", "new holders only"
    if (low := eligibility.get("min_age")) is not None and (facts.age is None or facts.age < low):
        return f"须年满 {low} 周岁", f"holders aged {low} or over only"
    if (high := eligibility.get("max_age")) is not None and (facts.age is None or facts.age > high):
        return f"须不超过 {high} 周岁", f"holders aged {high} or under only"
    return None


def reduction_for(rule: dict, order_fen: Fen) -> Fen:
    """What a 满减 rule takes off an order: the highest tier reached ("满 200 减 30"), or with
    per_each the first tier once per whole threshold ("每满 100 减 10"), never more than
    cap_fen nor the order itself. 0 below the lowest threshold."""
    tiers = rule["tiers"]
    if rule.get("per_each"):
        threshold, reduction = tiers[0]
        off = (order_fen // threshold) * reduction
    else:
        off = max((r for t, r in tiers if order_fen >= t), default=0)
    if rule.get("cap_fen") is not None:
        off = min(off, rule["cap_fen"])
    return max(0, min(off, order_fen - 1)) if off else 0


def rebate_for(rule: dict, fare_fen: Fen) -> Fen:
    """A transit rebate on one fare paid: rate_bp of it, rounded down to the fen, at most
    cap_fen."""
    off = fare_fen * rule["rate_bp"] // 10_000
    if rule.get("cap_fen") is not None:
        off = min(off, rule["cap_fen"])
    return max(0, off)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _words(values, name: str, longest: int) -> list[str]:
    """A list of short codes (a string alone is one code); refused when not a list of them."""
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) and 0 < len(v.strip()) <= longest
                                                       for v in values):
        raise _invalid(f"{name} 须为代码列表（每项 1–{longest} 个字符）",
                       f"{name} must be a list of codes of 1–{longest} characters")
    return [v.strip() for v in values]


def _positive_or_none(value, name: str):
    if value is None:
        return None
    if not isinstance(value, int) or value <= 0:
        raise _invalid(f"{name} 须为正整数", f"{name} must be a positive integer")
    return value


def _invalid(zh: str, en: str) -> CampaignInvalid:
    return CampaignInvalid(reason_zh=zh, reason_en=en)
