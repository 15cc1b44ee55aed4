"""The rules of discount campaigns as plain functions: the kinds, what a 满减 rule takes off an
order, what a transit rebate gives back, who is eligible. No database here."""

from __future__ import annotations

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
    # holder_month_fen at most per holder per calendar month; where the tap was: operators,
    # modes (bus, metro), lines, tap_regions (the tap's region code); card_kinds the validator
    # read (file 0015); empty: any.
    Kind.TRANSIT_REBATE: {"rate_bp", "cap_fen", "operators", "holder_month_fen", "modes", "lines", "tap_regions",
                          "card_kinds"},
    # face_fen a voucher, usable from min_order_fen, for valid_days after issue at operator_codes
    # (empty: any venue enrolled).
    Kind.TOURISM_VOUCHER: {"face_fen", "min_order_fen", "valid_days", "operator_codes"},
}
# bank_codes, min_age, max_age: the holder (tills, vouchers); card_kinds, modes, lines, operators:
# the tap (transit rebates, rebates.campaign_of); rider_categories, new_holders_since both; regions:
# the holder's ID-number region for tills and vouchers, the tap's region for transit rebates.
ELIGIBILITY_FIELDS = {"bank_codes", "rider_categories", "regions", "new_holders_since",
                      "min_age", "max_age", "card_kinds", "modes", "lines", "operators"}


@dataclass(frozen=True)
class HolderFacts:
    """What eligibility looks at, gathered from the registry by the service: the issuing bank
    of the card presented (a partner bank's co-branded card kind), the transit rider category
    the registry gives the person today, the region of the ID number's issuing authority (its
    first 4 digits, 3204 = Changzhou), the day the person's first card was issued, the age."""

    bank_code: str | None
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
        operators = rule.get("operators") or []
        out = {"rate_bp": rate, "cap_fen": _positive_or_none(rule.get("cap_fen"), "cap_fen"),
               "operators": [str(o)[:32] for o in operators],
               "holder_month_fen": _positive_or_none(rule.get("holder_month_fen"), "holder_month_fen"),
               **{name: [str(v)[:16] for v in rule.get(name) or []] for name in ("modes", "lines", "tap_regions", "card_kinds")}}
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


def check_eligibility_rule(eligibility: dict) -> dict:
    unknown = set(eligibility) - ELIGIBILITY_FIELDS
    if unknown:
        raise _invalid(f"未知参与条件 {sorted(unknown)}", f"unknown eligibility fields {sorted(unknown)}")
    out: dict = {}
    for name in ("bank_codes", "rider_categories", "regions", "card_kinds", "modes", "lines", "operators"):
        if eligibility.get(name):
            out[name] = [str(v)[:32] for v in eligibility[name]]
    if eligibility.get("new_holders_since"):
        out["new_holders_since"] = date.fromisoformat(str(eligibility["new_holders_since"])).isoformat()
    for name in ("min_age", "max_age"):
        if eligibility.get(name) is not None:
            value = eligibility[name]
            if not isinstance(value, int) or not 0 <= value <= 150:
                raise _invalid(f"{name} 须为 0–150", f"{name} must be 0–150")
            out[name] = value
    return out


def ineligible(eligibility: dict, facts: HolderFacts) -> tuple[str, str] | None:
    """Why the holder is not eligible (zh, en), or None when they are. A condition the
    campaign does not set admits everybody."""
    if (banks := eligibility.get("bank_codes")) and facts.bank_code not in banks:
        return "须使用合作银行发行的社保卡", "the card must be one a partner bank issued"
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


def _positive_or_none(value, name: str):
    if value is None:
        return None
    if not isinstance(value, int) or value <= 0:
        raise _invalid(f"{name} 须为正整数", f"{name} must be a positive integer")
    return value


def _invalid(zh: str, en: str) -> CampaignInvalid:
    return CampaignInvalid(reason_zh=zh, reason_en=en)
