"""Worked examples of the settlement (domain-rules §3; docs/medical-policy.md), computed by hand in the comments.

Figures from config/policy-changzhou.toml (example defaults, confidence L): all amounts in fen.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from tests.medical.helpers import OUT, POLICY, A, B, C, line
from yikatong.medical.rules import (
    CrossRegion,
    Encounter,
    Insured,
    Level,
    MedType,
    Scheme,
    SettlementInputInvalid,
    YearTotals,
    settle,
)

EMPLOYEE = Insured(scheme=Scheme.EMPLOYEE, retired=False, account_balance=0)
RETIREE = Insured(scheme=Scheme.EMPLOYEE, retired=True, account_balance=0)
RESIDENT = Insured(scheme=Scheme.RESIDENT, retired=False, account_balance=0)


def _check(result, expected: dict[str, int]) -> None:
    got = asdict(result.setlinfo)
    assert {key: got[key] for key in expected} == expected
    assert result.policy_version == POLICY.version


def test_level_3_employee_admission():
    # 甲 8,000.00 + 乙 2,000.00 (limit 1,500.00, 10 % pre-self-pay) + 丙 300.00 = 10,300.00
    # 丙 → fulamt 300.00; 乙 above the limit → overlmt 500.00; 10 % of 1,500.00 → pre 150.00
    # in-policy 10,300 − 300 − 500 − 150 = 9,350.00; Level 3 first admission deductible 800.00
    # fund 88 % × 8,550.00 = 7,524.00; person 10,300 − 7,524 = 2,776.00
    # account 500.00 pays first (the whole personal share may be paid), cash 2,276.00
    insured = Insured(scheme=Scheme.EMPLOYEE, retired=False, account_balance=50_000)
    result = settle(policy=POLICY, insured=insured,
                    encounter=Encounter(MedType.INPATIENT, Level.THREE),
                    lines=[line(A, 800_000), line(B, 200_000, limit=150_000, pre_bp=1000),
                           line(C, 30_000)],
                    year=YearTotals())
    _check(result, dict(
        medfee_sumamt=1_030_000, fulamt_ownpay_amt=30_000, overlmt_selfpay=50_000,
        preselfpay_amt=15_000, inscp_scp_amt=935_000, act_pay_dedc=80_000, hifp_pay=752_400,
        pool_prop_selfpay=8800, fund_pay_sumamt=752_400, psn_part_amt=277_600, acct_pay=50_000,
        psn_cash_pay=227_600, balc=0, hifmi_pay=0, hifob_pay=0, maf_pay=0))
    assert result.totals_delta == YearTotals(inpatient_admissions=1, inpatient_fund=752_400,
                                             medfee_total=1_030_000)


@pytest.mark.parametrize(("admissions", "deductible", "fund"), [
    # 2nd admission: Level 2 deductible 600.00 × 0.5 = 300.00; retired ratio 92 + 3 = 95 %
    # fund 95 % × (20,000 − 300) = 18,715.00; person 1,285.00: account 1,000.00, cash 285.00
    (1, 30_000, 1_871_500),
    # 3rd admission: no deductible; fund 95 % × 20,000 = 19,000.00; person 1,000.00 all account
    (2, 0, 1_900_000),
])
def test_retiree_repeat_admission(admissions, deductible, fund):
    insured = Insured(scheme=Scheme.EMPLOYEE, retired=True, account_balance=100_000)
    result = settle(policy=POLICY, insured=insured,
                    encounter=Encounter(MedType.INPATIENT, Level.TWO),
                    lines=[line(A, 2_000_000)],
                    year=YearTotals(inpatient_admissions=admissions, inpatient_fund=500_000))
    personal = 2_000_000 - fund
    _check(result, dict(act_pay_dedc=deductible, pool_prop_selfpay=9500, hifp_pay=fund,
                        psn_part_amt=personal, acct_pay=100_000, psn_cash_pay=personal - 100_000,
                        balc=0))


def test_resident_serious_illness_crossing_a_band():
    # The year so far: 40,000.00 self-paid in-policy (band 1 paid 60 % × 25,000 = 15,000.00).
    # 甲 50,000.00 at Level 3, 2nd admission: deductible 800 × 0.5 = 400.00
    # basic fund 65 % × 49,600.00 = 32,240.00; left to the person 50,000 − 32,240 = 17,760.00
    # base 40,000 → 57,760: 10,000.00 in band 1 at 60 % = 6,000.00 and 7,760.00 in band 2
    # (above 50,000) at 70 % = 5,432.00 → hifmi 11,432.00; person 17,760 − 11,432 = 6,328.00
    year = YearTotals(inpatient_admissions=1, inpatient_fund=5_000_000,
                      serious_base=4_000_000, serious_paid=1_500_000)
    result = settle(policy=POLICY, insured=RESIDENT,
                    encounter=Encounter(MedType.INPATIENT, Level.THREE),
                    lines=[line(A, 5_000_000)], year=year)
    _check(result, dict(act_pay_dedc=40_000, hifp_pay=3_224_000, pool_prop_selfpay=6500,
                        hifmi_pay=1_143_200, fund_pay_sumamt=4_367_200, psn_part_amt=632_800,
                        acct_pay=0, psn_cash_pay=632_800))
    assert result.totals_delta.serious_base == 1_776_000
    assert result.totals_delta.serious_paid == 1_143_200


def test_outpatient_deductible_met_over_two_visits():
    # Employee in service, community clinic: yearly deductible 600.00, ratio 80 %, account 1,000.00
    insured = Insured(scheme=Scheme.EMPLOYEE, retired=False, account_balance=100_000)
    encounter = Encounter(MedType.OUTPATIENT, Level.COMMUNITY)
    # visit 1: 400.00, all of it toward the deductible; the account pays 400.00, balance 600.00
    first = settle(policy=POLICY, insured=insured, encounter=encounter,
                   lines=[line(A, 40_000)], year=YearTotals())
    _check(first, dict(act_pay_dedc=40_000, hifp_pay=0, psn_part_amt=40_000, acct_pay=40_000,
                       balc=60_000))
    year = first.totals_delta
    # visit 2: 500.00; the last 200.00 of the deductible; fund 80 % × 300.00 = 240.00;
    # person 260.00 from the account, balance 340.00
    insured = Insured(scheme=Scheme.EMPLOYEE, retired=False, account_balance=60_000)
    second = settle(policy=POLICY, insured=insured, encounter=encounter,
                    lines=[line(A, 50_000)], year=year)
    _check(second, dict(act_pay_dedc=20_000, hifp_pay=24_000, psn_part_amt=26_000,
                        acct_pay=26_000, balc=34_000))
    year = year + second.totals_delta
    assert year.outpatient_deductible == 60_000
    # visit 3: 100.00, the deductible is met: fund 80.00
    third = settle(policy=POLICY, insured=insured, encounter=encounter,
                   lines=[line(A, 10_000)], year=year)
    _check(third, dict(act_pay_dedc=0, hifp_pay=8_000))


@pytest.mark.parametrize(("status", "ratio"), [
    (CrossRegion.LOCAL, 7000),
    (CrossRegion.LONG_TERM, 7000),     # filed for long-term residence: as at home
    (CrossRegion.EMERGENCY, 7000),     # emergency: as filed
    (CrossRegion.TEMPORARY, 6000),     # temporary filing: −10 pp
    (CrossRegion.NOT_FILED, 5000),     # not filed: −20 pp
])
def test_cross_region_outpatient(status, ratio):
    # Employee in service, Level 2 outpatient elsewhere, yearly deductible already met:
    # 1,000.00 in-policy (classed by the treatment region's catalogue), insured region's 70 %
    result = settle(policy=POLICY, insured=EMPLOYEE,
                    encounter=Encounter(MedType.OUTPATIENT, Level.TWO, cross_region=status),
                    lines=[line(A, 100_000)], year=YearTotals(outpatient_deductible=60_000))
    _check(result, dict(pool_prop_selfpay=ratio, hifp_pay=100_000 * ratio // 10_000,
                        psn_cash_pay=100_000 - 100_000 * ratio // 10_000))


def test_cross_region_inpatient_not_filed():
    # Level 3 employee admission elsewhere, not filed: 88 − 20 = 68 %; deductible 800.00 as home
    # fund 68 % × (10,000 − 800) = 6,256.00
    result = settle(policy=POLICY, insured=EMPLOYEE,
                    encounter=Encounter(MedType.INPATIENT, Level.THREE,
                                        cross_region=CrossRegion.NOT_FILED),
                    lines=[line(A, 1_000_000)], year=YearTotals())
    _check(result, dict(act_pay_dedc=80_000, pool_prop_selfpay=6800, hifp_pay=625_600))


@pytest.mark.parametrize(("balance", "account", "cash"), [
    (5_000, 5_000, 160),     # the account runs dry: 50.00 from it, 1.60 cash
    (100_000, 5_160, 0),     # the whole personal share, self-paid 丙 included, from the account
])
def test_pharmacy_purchase_from_the_personal_account(balance, account, cash):
    # Pharmacy (41), employee in service, deductible met; pharmacy ratio 80 % (as community)
    # 甲 60.00 + 乙 40.00 (5 % pre-self-pay = 2.00) + 丙 30.00 = 130.00
    # in-policy 130 − 30 − 2 = 98.00; fund 80 % = 78.40; person 51.60
    insured = Insured(scheme=Scheme.EMPLOYEE, retired=False, account_balance=balance)
    result = settle(policy=POLICY, insured=insured,
                    encounter=Encounter(MedType.PHARMACY, Level.PHARMACY),
                    lines=[line(A, 6_000), line(B, 4_000, pre_bp=500), line(C, 3_000)],
                    year=YearTotals(outpatient_deductible=60_000))
    _check(result, dict(medfee_sumamt=13_000, fulamt_ownpay_amt=3_000, preselfpay_amt=200,
                        inscp_scp_amt=9_800, hifp_pay=7_840, psn_part_amt=5_160,
                        acct_pay=account, psn_cash_pay=cash, balc=balance - account))
    assert result.totals_delta.outpatient_fund == 7_840


def test_pharmacy_purchase_without_the_account():
    insured = Insured(scheme=Scheme.EMPLOYEE, retired=False, account_balance=100_000)
    result = settle(policy=POLICY, insured=insured,
                    encounter=Encounter(MedType.PHARMACY, Level.PHARMACY, use_account=False),
                    lines=[line(A, 6_000)], year=YearTotals(outpatient_deductible=60_000))
    _check(result, dict(acct_pay=0, psn_cash_pay=1_200, balc=100_000))


def test_employee_crosses_the_basic_cap_into_the_large_amount_subsidy():
    # Level 3, 3rd admission (no deductible); the basic fund has paid 290,000.00 of 300,000.00
    # 甲 20,000.00: 88 % would be 17,600.00 but the cap leaves 10,000.00 → hifp 10,000.00
    # the basic fund covered 10,000 / 0.88 = 11,363.64 (rounded up) of the bill;
    # the subsidy pays 90 % of the other 8,636.36 = 7,772.72 (rounded half up from 7,772.724)
    # person: 12 % of 11,363.64 + 10 % of 8,636.36 = 1,363.64 + 863.64 = 2,227.28
    year = YearTotals(inpatient_admissions=2, inpatient_fund=29_000_000)
    result = settle(policy=POLICY, insured=EMPLOYEE,
                    encounter=Encounter(MedType.INPATIENT, Level.THREE),
                    lines=[line(A, 2_000_000)], year=year)
    _check(result, dict(act_pay_dedc=0, hifp_pay=1_000_000, hifob_pay=777_272,
                        fund_pay_sumamt=1_777_272, psn_part_amt=222_728))
    after = year + result.totals_delta
    assert after.inpatient_fund == POLICY.employee.inpatient.annual_cap
    # the next admission: the basic fund pays nothing, the subsidy 90 % of 5,000.00
    more = settle(policy=POLICY, insured=EMPLOYEE,
                  encounter=Encounter(MedType.INPATIENT, Level.THREE),
                  lines=[line(A, 500_000)], year=after)
    _check(more, dict(hifp_pay=0, hifob_pay=450_000, psn_part_amt=50_000))


def test_medical_assistance_for_a_recipient():
    # Resident at a community clinic, no deductible there; fund 60 % × 300.00 = 180.00;
    # assistance 70 % of the 120.00 left = 84.00; out-of-catalogue 50.00 stays the person's
    insured = Insured(scheme=Scheme.RESIDENT, retired=False, account_balance=0, assistance=True)
    result = settle(policy=POLICY, insured=insured,
                    encounter=Encounter(MedType.OUTPATIENT, Level.COMMUNITY),
                    lines=[line(A, 30_000), line(OUT, 5_000)], year=YearTotals())
    _check(result, dict(hifp_pay=18_000, maf_pay=8_400, fund_pay_sumamt=26_400,
                        psn_part_amt=8_600, psn_cash_pay=8_600))
    assert result.totals_delta.assistance_paid == 8_400


def test_resident_outpatient_cap():
    # Resident outpatient cap 1,000.00 a year; 950.00 paid: a Level 1 visit of 200.00 would be
    # 60 % = 120.00 but only 50.00 is left
    result = settle(policy=POLICY, insured=RESIDENT,
                    encounter=Encounter(MedType.OUTPATIENT, Level.ONE),
                    lines=[line(A, 20_000)], year=YearTotals(outpatient_fund=95_000))
    _check(result, dict(hifp_pay=5_000, psn_part_amt=15_000))


@pytest.mark.parametrize(("encounter", "lines", "insured", "year"), [
    (Encounter(MedType.INPATIENT, Level.PHARMACY), [], EMPLOYEE, YearTotals()),
    (Encounter(MedType.OUTPATIENT, Level.ONE), [line(A, -1)], EMPLOYEE, YearTotals()),
    (Encounter(MedType.OUTPATIENT, Level.ONE), [line(B, 100, pre_bp=10_001)], EMPLOYEE, YearTotals()),
    (Encounter(MedType.OUTPATIENT, Level.ONE), [line(A, 100, limit=-5)], EMPLOYEE, YearTotals()),
    (Encounter(MedType.OUTPATIENT, Level.ONE), [], Insured(Scheme.EMPLOYEE, False, -1), YearTotals()),
    (Encounter(MedType.OUTPATIENT, Level.ONE), [], EMPLOYEE, YearTotals(outpatient_fund=-1)),
])
def test_invalid_input_is_refused(encounter, lines, insured, year):
    with pytest.raises(SettlementInputInvalid) as refused:
        settle(policy=POLICY, insured=insured, encounter=encounter, lines=lines, year=year)
    assert refused.value.code == "medical_settlement_input_invalid"


def test_year_totals_subtract_exactly_and_never_below_zero():
    year = YearTotals(outpatient_fund=500, inpatient_admissions=2)
    delta = YearTotals(outpatient_fund=200, inpatient_admissions=1)
    assert (year + delta) - delta == year
    with pytest.raises(ValueError, match="outpatient_fund"):
        delta - year
