"""The settlement of one medical bill (domain-rules §3): pure arithmetic.

No I/O, no database, no clock: the caller passes the policy in force, the insured person, the
encounter, the fee lines (classed by the treatment region's catalogue) and the person's running
totals for the year; `settle` answers the national 2207/2304 `setlinfo` fields and the amounts
this settlement adds to the year (a cancellation subtracts exactly those).

Calculation order (docs/medical-policy.md walks through it with worked examples):

1. 丙类 and out-of-catalogue lines → `fulamt_ownpay_amt`; the part of a 甲/乙 line above its
   price limit → `overlmt_selfpay`.
2. 乙类 pre-self-pay (先行自付) of the rest → `preselfpay_amt`; what remains is the in-policy
   amount `inscp_scp_amt`.
3. The deductible (`act_pay_dedc`): inpatient per admission by level, scaled by the year's
   admission number; outpatient and pharmacy yearly, only what the year has not yet met.
4. The fund's ratio by scheme × level × in-service/retired, less the cross-region points
   (`pool_prop_selfpay` records this ratio: the pooled fund's share, 基本医疗统筹支付比例).
5. The pooled fund pays that share of the in-policy amount above the deductible, up to what
   the annual cap leaves (`hifp_pay`; outpatient/pharmacy and inpatient have separate caps).
6. Residents: serious-illness insurance on the year's self-paid in-policy amount above its
   threshold, by bands (`hifmi_pay`). Employees: the large-amount subsidy pays its ratio of the
   in-policy amount the basic fund no longer pays above its cap (`hifob_pay`). Each to its cap.
7. Medical assistance for recipients: its ratio of the in-policy share still left (`maf_pay`).
8. The personal account pays the personal share up to its balance (`acct_pay`), the rest is
   cash (`psn_cash_pay`).

Rounding: integer fen and basis points only. Every fund amount is rounded half up to the fen
(`core.money.apply_rate`), each once; the person's share is the remainder, so
medfee_sumamt = fund_pay_sumamt + psn_part_amt + hosp_part_amt holds exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING

from yikatong.core.errors import DomainError
from yikatong.core.money import Fen, apply_rate

if TYPE_CHECKING:
    from yikatong.medical.policy import Band, Policy, SchemePolicy

BasisPoints = int
"""A ratio in basis points: 10 000 = 100 %; never a float."""

FULL: BasisPoints = 10_000


class Scheme(StrEnum):
    """insutype: 310 employee basic medical insurance, 390 urban-rural residents."""

    EMPLOYEE = "310"
    RESIDENT = "390"


class MedType(StrEnum):
    OUTPATIENT = "11"
    INPATIENT = "21"
    PHARMACY = "41"


class Level(StrEnum):
    COMMUNITY = "community"
    ONE = "1"
    TWO = "2"
    THREE = "3"
    PHARMACY = "pharmacy"


class ItemClass(StrEnum):
    """甲 / 乙 / 丙 / 目录外 (out of catalogue)."""

    A = "A"
    B = "B"
    C = "C"
    OUT = "out"


class CrossRegion(StrEnum):
    LOCAL = "local"
    LONG_TERM = "long_term"
    TEMPORARY = "temporary"
    NOT_FILED = "not_filed"
    EMERGENCY = "emergency"


class SettlementInputInvalid(DomainError):
    code = "medical_settlement_input_invalid"
    http_status = 422
    zh = "结算数据有误：{problem}"
    en = "The settlement input is invalid: {problem}"


@dataclass(frozen=True)
class FeeLine:
    code: str
    item_class: ItemClass
    amount: Fen                    # det_item_fee_sumamt of the line
    price_limit: Fen | None        # the catalogue's limit for this line's quantity; None = no limit
    pre_self_pay_bp: BasisPoints   # 乙类 先行自付 ratio from the catalogue (0 for 甲; ignored for 甲)


@dataclass(frozen=True)
class Insured:
    scheme: Scheme
    retired: bool
    account_balance: Fen           # personal account balance before (0 when none)
    assistance: bool = False       # a medical-assistance recipient (医疗救助对象)


@dataclass(frozen=True)
class Encounter:
    med_type: MedType
    level: Level
    cross_region: CrossRegion = CrossRegion.LOCAL
    use_account: bool = True       # the patient agreed to pay from the personal account


@dataclass(frozen=True)
class YearTotals:
    """One person, one calendar year: running totals, all ≥ 0."""

    outpatient_deductible: Fen = 0  # outpatient deductible met so far
    outpatient_fund: Fen = 0        # pooled fund paid for outpatient/pharmacy (its own cap)
    inpatient_admissions: int = 0   # inpatient settlements this year
    inpatient_fund: Fen = 0         # pooled fund paid for inpatient (the basic cap)
    serious_base: Fen = 0           # residents: self-paid in-policy amount toward the serious-illness threshold
    serious_paid: Fen = 0           # hifmi_pay so far
    subsidy_paid: Fen = 0           # hifob_pay so far (employees' large-amount subsidy)
    assistance_paid: Fen = 0        # maf_pay so far
    medfee_total: Fen = 0

    def __add__(self, other: YearTotals) -> YearTotals:
        return YearTotals(**{name: getattr(self, name) + getattr(other, name) for name in YEAR_TOTALS_FIELDS})

    def __sub__(self, other: YearTotals) -> YearTotals:
        """The year without `other` (a cancelled settlement); ValueError if a total would fall
        below zero, which means `other` was never added."""
        values = {name: getattr(self, name) - getattr(other, name) for name in YEAR_TOTALS_FIELDS}
        negative = sorted(name for name, value in values.items() if value < 0)
        if negative:
            raise ValueError(f"year totals would fall below zero: {negative}")
        return YearTotals(**values)


YEAR_TOTALS_FIELDS = tuple(f.name for f in fields(YearTotals))  # its fields' names, in order


@dataclass(frozen=True)
class Setlinfo:
    """The national 2207/2304 setlinfo fields: all fen except the ratio (basis points)."""

    medfee_sumamt: Fen
    fulamt_ownpay_amt: Fen
    overlmt_selfpay: Fen
    preselfpay_amt: Fen
    inscp_scp_amt: Fen
    act_pay_dedc: Fen
    hifp_pay: Fen
    pool_prop_selfpay: BasisPoints  # the pooled fund's ratio applied (基本医疗统筹支付比例)
    cvlserv_pay: Fen
    hifes_pay: Fen
    hifmi_pay: Fen
    hifob_pay: Fen
    maf_pay: Fen
    oth_pay: Fen
    fund_pay_sumamt: Fen
    hosp_part_amt: Fen
    psn_part_amt: Fen
    acct_pay: Fen
    psn_cash_pay: Fen
    acct_mulaid_pay: Fen
    balc: Fen


@dataclass(frozen=True)
class Settlement:
    setlinfo: Setlinfo
    totals_delta: YearTotals       # what this settlement adds to the year; a cancellation subtracts exactly this
    policy_version: str


@dataclass(frozen=True)
class LineSplit:
    """Steps 1–2: the bill split into what the insurance never covers and the in-policy amount."""

    total: Fen = 0
    fully_self_paid: Fen = 0       # fulamt_ownpay_amt
    over_limit: Fen = 0            # overlmt_selfpay
    pre_self_pay: Fen = 0          # preselfpay_amt
    in_policy: Fen = 0             # inscp_scp_amt


def split_lines(lines: Sequence[FeeLine]) -> LineSplit:
    """Steps 1 and 2, line by line: each 乙 line's pre-self-pay is rounded half up on its own."""
    total = fully = over = pre = 0
    for line in lines:
        _check_line(line)
        total += line.amount
        if line.item_class in (ItemClass.C, ItemClass.OUT):
            fully += line.amount
            continue
        above = 0 if line.price_limit is None else max(0, line.amount - line.price_limit)
        within = line.amount - above
        over += above
        if line.item_class is ItemClass.B:
            pre += apply_rate(within, line.pre_self_pay_bp, FULL)
    in_policy = total - fully - over - pre
    return LineSplit(total, fully, over, pre, in_policy)


def settle(*, policy: Policy, insured: Insured, encounter: Encounter,
           lines: Sequence[FeeLine], year: YearTotals) -> Settlement:
    """Settle one bill against the policy and the person's year (the order of docs/medical-policy.md).

    Raises SettlementInputInvalid for a negative amount or total, a ratio outside 0–100 %, or
    an inpatient stay at a pharmacy.
    """
    _check_inputs(insured, encounter, year)
    scheme = policy.scheme(insured.scheme)
    inpatient = encounter.med_type is MedType.INPATIENT
    split = split_lines(lines)

    deductible = min(_deductible_due(scheme, insured, encounter, year), split.in_policy)
    eligible = split.in_policy - deductible
    ratio = _fund_ratio(policy, scheme, insured, encounter)
    fund_due = apply_rate(eligible, ratio, FULL)
    cap, used = _basic_cap(scheme, insured, inpatient, year)
    hifp = min(fund_due, max(0, cap - used))
    left = split.in_policy - hifp   # the in-policy share left to the person

    hifmi, serious_base = _serious_illness(scheme, encounter, year, left)
    hifob = _large_amount_subsidy(scheme, encounter, year, eligible, hifp, fund_due, ratio)
    hifob = min(hifob, left - hifmi)
    maf = _assistance(scheme, insured, year, left - hifmi - hifob)

    fund_sum = hifp + hifmi + hifob + maf
    personal = split.total - fund_sum
    account = 0
    if scheme.account.enabled and encounter.use_account:
        payable = personal
        if not scheme.account.covers_self_paid_items:
            payable = personal - split.fully_self_paid - split.over_limit
        account = min(payable, insured.account_balance)

    setlinfo = Setlinfo(
        medfee_sumamt=split.total,
        fulamt_ownpay_amt=split.fully_self_paid,
        overlmt_selfpay=split.over_limit,
        preselfpay_amt=split.pre_self_pay,
        inscp_scp_amt=split.in_policy,
        act_pay_dedc=deductible,
        hifp_pay=hifp,
        pool_prop_selfpay=ratio,
        cvlserv_pay=0,
        hifes_pay=0,
        hifmi_pay=hifmi,
        hifob_pay=hifob,
        maf_pay=maf,
        oth_pay=0,
        fund_pay_sumamt=fund_sum,
        hosp_part_amt=0,
        psn_part_amt=personal,
        acct_pay=account,
        psn_cash_pay=personal - account,
        acct_mulaid_pay=0,
        balc=insured.account_balance - account,
    )
    delta = YearTotals(
        outpatient_deductible=0 if inpatient else deductible,
        outpatient_fund=0 if inpatient else hifp,
        inpatient_admissions=1 if inpatient else 0,
        inpatient_fund=hifp if inpatient else 0,
        serious_base=serious_base,
        serious_paid=hifmi,
        subsidy_paid=hifob,
        assistance_paid=maf,
        medfee_total=split.total,
    )
    return Settlement(setlinfo=setlinfo, totals_delta=delta, policy_version=policy.version)


def _deductible_due(scheme: SchemePolicy, insured: Insured, encounter: Encounter,
                    year: YearTotals) -> Fen:
    """Step 3: inpatient per admission (the n-th of the year scaled), outpatient what the
    yearly deductible still lacks."""
    if encounter.med_type is MedType.INPATIENT:
        rule = scheme.inpatient
        scales = rule.repeat_admission_bp
        scale = scales[min(year.inpatient_admissions, len(scales) - 1)]
        return apply_rate(rule.deductible[encounter.level], scale, FULL)
    rule_o = scheme.outpatient
    table = rule_o.deductible_retired if insured.retired else rule_o.deductible
    return max(0, table[encounter.level] - year.outpatient_deductible)


def _fund_ratio(policy: Policy, scheme: SchemePolicy, insured: Insured,
                encounter: Encounter) -> BasisPoints:
    """Step 4: the insured region's ratio, less the cross-region points (never below 0)."""
    rule = scheme.inpatient if encounter.med_type is MedType.INPATIENT else scheme.outpatient
    table = rule.ratio_retired if insured.retired else rule.ratio
    return max(0, table[encounter.level] - policy.cross_region.reduction_bp[encounter.cross_region])


def _basic_cap(scheme: SchemePolicy, insured: Insured, inpatient: bool,
               year: YearTotals) -> tuple[Fen, Fen]:
    """Step 5: (annual cap, paid so far) of the pool this encounter draws on."""
    if inpatient:
        return scheme.inpatient.annual_cap, year.inpatient_fund
    rule = scheme.outpatient
    return (rule.annual_cap_retired if insured.retired else rule.annual_cap), year.outpatient_fund


def _banded(bands: Sequence[Band], base: Fen) -> Fen:
    """What the bands pay on a yearly base from zero: each band's slice rounded half up.
    Settling the year in several visits pays the difference of two of these, so the visits add
    up to exactly what one visit with the whole base would pay."""
    paid = 0
    for band, following in zip(bands, [*bands[1:], None], strict=True):
        top = base if following is None else min(base, following.over)
        if top > band.over:
            paid += apply_rate(top - band.over, band.ratio_bp, FULL)
    return paid


def _serious_illness(scheme: SchemePolicy, encounter: Encounter, year: YearTotals,
                     left: Fen) -> tuple[Fen, Fen]:
    """Step 6 (residents): (hifmi_pay, the base this settlement adds)."""
    rule = scheme.serious_illness
    if rule is None or encounter.med_type not in rule.med_types:
        return 0, 0
    before = year.serious_base
    owed = _banded(rule.bands, before + left) - _banded(rule.bands, before)
    return min(owed, left, max(0, rule.annual_cap - year.serious_paid)), left


def _large_amount_subsidy(scheme: SchemePolicy, encounter: Encounter, year: YearTotals,
                          eligible: Fen, hifp: Fen, fund_due: Fen, ratio: BasisPoints) -> Fen:
    """Step 6 (employees): the subsidy's ratio of the in-policy amount (above the deductible)
    that the basic fund did not cover because its cap ran out. The part it did cover is the
    amount whose ratio is hifp, rounded up: hifp × 10 000 / ratio."""
    rule = scheme.large_amount_subsidy
    if rule is None or encounter.med_type not in rule.med_types or hifp == fund_due:
        return 0
    covered = min(eligible, -(-hifp * FULL // ratio))   # ratio > 0 here: fund_due > hifp ≥ 0
    owed = apply_rate(eligible - covered, rule.ratio_bp, FULL)
    return min(owed, max(0, rule.annual_cap - year.subsidy_paid))


def _assistance(scheme: SchemePolicy, insured: Insured, year: YearTotals, left: Fen) -> Fen:
    """Step 7: medical assistance for recipients, of the in-policy share still left."""
    if not insured.assistance:
        return 0
    rule = scheme.assistance
    return min(apply_rate(left, rule.ratio_bp, FULL), max(0, rule.annual_cap - year.assistance_paid))


def _check_line(line: FeeLine) -> None:
    if line.amount < 0:
        raise SettlementInputInvalid(problem=f"line {line.code}: negative amount {line.amount}")
    if line.price_limit is not None and line.price_limit < 0:
        raise SettlementInputInvalid(problem=f"line {line.code}: negative price limit {line.price_limit}")
    if not 0 <= line.pre_self_pay_bp <= FULL:
        raise SettlementInputInvalid(
            problem=f"line {line.code}: pre-self-pay ratio {line.pre_self_pay_bp} is outside 0–10000")


def _check_inputs(insured: Insured, encounter: Encounter, year: YearTotals) -> None:
    if encounter.med_type is MedType.INPATIENT and encounter.level is Level.PHARMACY:
        raise SettlementInputInvalid(problem="a pharmacy has no inpatient stays")
    if insured.account_balance < 0:
        raise SettlementInputInvalid(problem=f"negative account balance {insured.account_balance}")
    negative = [name for name in YEAR_TOTALS_FIELDS if getattr(year, name) < 0]
    if negative:
        raise SettlementInputInvalid(problem=f"negative year totals: {negative}")
