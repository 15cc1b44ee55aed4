"""Properties of the settlement over random bills, people and years (Hypothesis).

The invariants of MEDICAL.md: the setlinfo sums hold exactly, every field is ≥ 0, the account
never pays more than its balance, no pool pays past its cap, the deductible is met once a
year; and a cancellation (year − delta) restores the year exactly.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.medical.helpers import POLICY
from yikatong.medical.rules import (
    CrossRegion,
    Encounter,
    FeeLine,
    Insured,
    ItemClass,
    Level,
    MedType,
    Scheme,
    Setlinfo,
    YearTotals,
    settle,
)

FAST = settings(max_examples=150, deadline=None)
SEQUENCES = settings(max_examples=60, deadline=None)

fen = st.integers(min_value=0, max_value=3_000_000)


@st.composite
def fee_lines(draw) -> FeeLine:
    amount = draw(fen)
    return FeeLine(
        code=draw(st.sampled_from(["D1", "D2", "S1"])),
        item_class=draw(st.sampled_from(list(ItemClass))),
        amount=amount,
        price_limit=draw(st.none() | st.integers(min_value=0, max_value=amount * 2 + 1)),
        pre_self_pay_bp=draw(st.integers(min_value=0, max_value=3000)),
    )


insureds = st.builds(
    Insured,
    scheme=st.sampled_from(list(Scheme)),
    retired=st.booleans(),
    account_balance=st.integers(min_value=0, max_value=2_000_000),
    assistance=st.booleans(),
)


@st.composite
def encounters(draw) -> Encounter:
    med_type = draw(st.sampled_from(list(MedType)))
    levels = [level for level in Level if not (med_type is MedType.INPATIENT and level is Level.PHARMACY)]
    return Encounter(med_type=med_type, level=draw(st.sampled_from(levels)),
                     cross_region=draw(st.sampled_from(list(CrossRegion))),
                     use_account=draw(st.booleans()))


def _near(cap: int) -> st.SearchStrategy[int]:
    """Anywhere in the year, but often close to the cap, where the interesting cases are."""
    return st.integers(min_value=0, max_value=cap) | st.integers(
        min_value=max(0, cap - 2_000_000), max_value=cap)


years = st.builds(
    YearTotals,
    outpatient_deductible=st.integers(min_value=0, max_value=60_000),
    outpatient_fund=_near(1_200_000),
    inpatient_admissions=st.integers(min_value=0, max_value=4),
    inpatient_fund=_near(30_000_000),
    serious_base=st.integers(min_value=0, max_value=40_000_000),
    serious_paid=_near(30_000_000),
    subsidy_paid=_near(40_000_000),
    assistance_paid=_near(5_000_000),
    medfee_total=st.integers(min_value=0, max_value=10**9),
)
bills = st.lists(fee_lines(), max_size=6)


def _caps(insured: Insured) -> dict[str, int]:
    scheme = POLICY.scheme(insured.scheme)
    outpatient = scheme.outpatient
    caps = {
        "outpatient_fund": outpatient.annual_cap_retired if insured.retired else outpatient.annual_cap,
        "inpatient_fund": scheme.inpatient.annual_cap,
        "assistance_paid": scheme.assistance.annual_cap,
        "serious_paid": scheme.serious_illness.annual_cap if scheme.serious_illness else 0,
        "subsidy_paid": scheme.large_amount_subsidy.annual_cap if scheme.large_amount_subsidy else 0,
    }
    return caps


def _assert_setlinfo(info: Setlinfo, insured: Insured) -> None:
    assert all(value >= 0 for value in asdict(info).values()), info
    assert info.medfee_sumamt == info.fund_pay_sumamt + info.psn_part_amt + info.hosp_part_amt
    assert info.psn_part_amt == info.acct_pay + info.psn_cash_pay
    assert info.fund_pay_sumamt == (info.hifp_pay + info.cvlserv_pay + info.hifes_pay
                                    + info.hifmi_pay + info.hifob_pay + info.maf_pay + info.oth_pay)
    assert info.medfee_sumamt == (info.fulamt_ownpay_amt + info.overlmt_selfpay
                                  + info.preselfpay_amt + info.inscp_scp_amt)
    assert info.act_pay_dedc <= info.inscp_scp_amt
    assert info.acct_pay <= insured.account_balance
    assert info.balc == insured.account_balance - info.acct_pay
    assert info.pool_prop_selfpay <= 10_000


@FAST
@given(insured=insureds, encounter=encounters(), lines=bills, year=years)
def test_one_settlement_keeps_every_invariant(insured, encounter, lines, year):
    result = settle(policy=POLICY, insured=insured, encounter=encounter, lines=lines, year=year)
    info, delta = result.setlinfo, result.totals_delta
    _assert_setlinfo(info, insured)
    after = year + delta
    for name, cap in _caps(insured).items():
        assert getattr(after, name) <= max(cap, getattr(year, name)), name
    # cancelling restores the year exactly
    assert after - delta == year
    assert all(getattr(delta, f.name) >= 0 for f in fields(delta))
    # the delta carries exactly what setlinfo says was paid
    assert delta.outpatient_fund + delta.inpatient_fund == info.hifp_pay
    assert (delta.serious_paid, delta.subsidy_paid, delta.assistance_paid) == (
        info.hifmi_pay, info.hifob_pay, info.maf_pay)
    assert delta.medfee_total == info.medfee_sumamt
    if not (encounter.use_account and POLICY.scheme(insured.scheme).account.enabled):
        assert info.acct_pay == 0
    # the subsidy pays only once the basic cap has stopped the pooled fund
    if info.hifob_pay:
        assert after.inpatient_fund >= POLICY.employee.inpatient.annual_cap
    # the serious-illness insurance pays only above its threshold
    if info.hifmi_pay:
        assert after.serious_base > POLICY.resident.serious_illness.threshold


@FAST
@given(insured=insureds, encounter=encounters(), lines=bills, year=years)
def test_the_deductible_is_never_asked_twice(insured, encounter, lines, year):
    result = settle(policy=POLICY, insured=insured, encounter=encounter, lines=lines, year=year)
    dedc = result.setlinfo.act_pay_dedc
    scheme = POLICY.scheme(insured.scheme)
    if encounter.med_type is MedType.INPATIENT:
        scales = scheme.inpatient.repeat_admission_bp
        scale = scales[min(year.inpatient_admissions, len(scales) - 1)]
        full = scheme.inpatient.deductible[encounter.level]
        assert dedc == min(result.setlinfo.inscp_scp_amt, (full * scale + 5_000) // 10_000)
    else:
        outpatient = scheme.outpatient
        table = outpatient.deductible_retired if insured.retired else outpatient.deductible
        after = year.outpatient_deductible + result.totals_delta.outpatient_deductible
        assert after <= max(table[encounter.level], year.outpatient_deductible)
        if year.outpatient_deductible >= table[encounter.level]:
            assert dedc == 0


visits = st.lists(st.tuples(encounters(), bills), min_size=1, max_size=8)


@SEQUENCES
@given(insured=insureds, plan=visits, start=years)
def test_visits_in_sequence_never_pass_a_cap_and_cancel_back(insured, plan, start):
    """Settling visits one after another (the year carried) never pays a pool past its cap,
    meets the outpatient deductible once, and cancelling them all restores the year."""
    year, deltas, balance = start, [], insured.account_balance
    caps = _caps(insured)
    for encounter, lines in plan:
        person = Insured(insured.scheme, insured.retired, balance, insured.assistance)
        result = settle(policy=POLICY, insured=person, encounter=encounter, lines=lines, year=year)
        _assert_setlinfo(result.setlinfo, person)
        balance = result.setlinfo.balc
        before, year = year, year + result.totals_delta
        deltas.append(result.totals_delta)
        for name, cap in caps.items():
            assert getattr(year, name) <= max(cap, getattr(start, name)), name
            assert getattr(year, name) >= getattr(before, name)
    outpatient = POLICY.scheme(insured.scheme).outpatient
    table = outpatient.deductible_retired if insured.retired else outpatient.deductible
    assert year.outpatient_deductible <= max(max(table.values()), start.outpatient_deductible)
    for delta in deltas[::-1]:
        year = year - delta
    assert year == start


@SEQUENCES
@given(insured=insureds, amounts=st.lists(st.integers(min_value=0, max_value=80_000), min_size=1,
                                          max_size=6),
       level=st.sampled_from([Level.COMMUNITY, Level.TWO, Level.PHARMACY]))
def test_outpatient_deductible_is_met_once(insured, amounts, level):
    """Visits at one level: the deductibles applied add up to min(yearly deductible, in-policy
    spent), whatever the split into visits."""
    outpatient = POLICY.scheme(insured.scheme).outpatient
    deductible = (outpatient.deductible_retired if insured.retired else outpatient.deductible)[level]
    year, applied = YearTotals(), 0
    for amount in amounts:
        result = settle(policy=POLICY, insured=insured,
                        encounter=Encounter(MedType.OUTPATIENT, level),
                        lines=[FeeLine("D1", ItemClass.A, amount, None, 0)], year=year)
        applied += result.setlinfo.act_pay_dedc
        year = year + result.totals_delta
    assert applied == min(deductible, sum(amounts)) == year.outpatient_deductible


@SEQUENCES
@given(amounts=st.lists(st.integers(min_value=0, max_value=6_000_000), min_size=1, max_size=5))
def test_serious_illness_does_not_depend_on_how_the_year_is_split(amounts):
    """Below its cap, the serious-illness insurance pays on the year's base the same whether it
    came in one stay or several (each band's slice is rounded on the year's total)."""
    resident = Insured(Scheme.RESIDENT, False, 0)
    rule = POLICY.resident.serious_illness
    year, paid = YearTotals(inpatient_admissions=5), 0
    for amount in amounts:
        result = settle(policy=POLICY, insured=resident,
                        encounter=Encounter(MedType.INPATIENT, Level.THREE),
                        lines=[FeeLine("D1", ItemClass.A, amount, None, 0)], year=year)
        paid += result.setlinfo.hifmi_pay
        year = year + result.totals_delta
    once = 0
    bands = rule.bands
    for band, following in zip(bands, [*bands[1:], None], strict=True):
        top = year.serious_base if following is None else min(year.serious_base, following.over)
        if top > band.over:
            once += (2 * (top - band.over) * band.ratio_bp + 10_000) // 20_000
    assert paid == min(once, rule.annual_cap)
