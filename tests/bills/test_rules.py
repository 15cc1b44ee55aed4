"""The pure rules of payments out: contribution bases and amounts in fen, exam fees, pension
grades, mandates, receipt numbers; and the figures file validated strictly."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.bills import rules
from yikatong.bills.errors import (
    BaseOutOfRange,
    BillsConfigInvalid,
    GradeNotAllowed,
    MonthsNotAllowed,
    SubjectsInvalid,
)
from yikatong.bills.figures import CONFIG, figures, parse_figures

F = figures()


def test_the_base_is_chosen_between_60_and_300_percent_of_the_average_wage():
    bounds = rules.base_bounds(F.flexible)
    wage = F.flexible.average_monthly_wage_fen
    assert (bounds.low_fen, bounds.high_fen) == (wage * 60 // 100, wage * 3)
    assert (bounds.low_fen, bounds.high_fen) == (480_000, 2_400_000)  # the example wage 8,000 CNY


@pytest.mark.parametrize("base_fen, months, expected", [
    (480_000, 1, 96_000),         # the lowest base, a month: 960.00
    (2_400_000, 1, 480_000),      # the highest base, a month
    (800_000, 12, 1_920_000),     # the average wage, a year: 19,200.00
    (500_001, 1, 100_000),        # 100,000.2 fen rounds to the fen
    (500_003, 1, 100_001),        # 100,000.6 rounds up
])
def test_a_flexible_contribution_is_20_percent_of_the_base_per_month_in_fen(base_fen, months, expected):
    assert rules.flexible_amount(F.flexible, base_fen=base_fen, months=months) == expected


@pytest.mark.parametrize("base_fen", [479_999, 2_400_001, 0, -1])
def test_a_base_outside_the_bounds_is_refused_with_the_bounds_in_yuan(base_fen):
    with pytest.raises(BaseOutOfRange) as refused:
        rules.flexible_amount(F.flexible, base_fen=base_fen, months=1)
    assert "4800.00" in refused.value.message_zh and "24000.00" in refused.value.message_en


@pytest.mark.parametrize("months", [2, 3, 6, 0, 13])
def test_only_a_month_or_a_year_is_paid(months):
    with pytest.raises(MonthsNotAllowed):
        rules.flexible_amount(F.flexible, base_fen=800_000, months=months)


@settings(max_examples=50)
@given(base=st.integers(480_000, 2_400_000), months=st.sampled_from([1, 12]))
def test_the_amount_is_whole_fen_and_a_year_is_twelve_months(base, months):
    amount = rules.flexible_amount(F.flexible, base_fen=base, months=months)
    monthly = rules.flexible_amount(F.flexible, base_fen=base, months=1)
    assert isinstance(amount, int) and amount == monthly * months
    assert abs(monthly * 10_000 - base * F.flexible.rate_bp) <= 5_000  # within half a fen


def test_the_period_is_the_month_or_the_year():
    assert rules.flexible_period(date(2026, 3, 2), 1) == "2026-03"
    assert rules.flexible_period(date(2026, 3, 2), 12) == "2026"


def test_exam_fees_are_50_yuan_a_subject_each_subject_once():
    offered = ["A", "B", "C"]
    assert rules.exam_amount(F.exam, chosen=["A"], offered=offered) == 5_000
    assert rules.exam_amount(F.exam, chosen=["A", "C"], offered=offered) == 10_000
    for chosen in ([], ["A", "A"], ["D"]):
        with pytest.raises(SubjectsInvalid):
            rules.exam_amount(F.exam, chosen=chosen, offered=offered)


def test_a_pension_contribution_is_one_of_the_grades():
    assert rules.pension_amount(F.resident_pension, grade_fen=F.resident_pension.grades_fen[0]) == 30_000
    with pytest.raises(GradeNotAllowed):
        rules.pension_amount(F.resident_pension, grade_fen=12_345)


@pytest.mark.parametrize("limit, payee, amount, covered", [
    (None, "CZ-WATER", 10**9, True),
    (10_000, "CZ-WATER", 10_000, True),
    (10_000, "CZ-WATER", 10_001, False),
    (None, "CZ-GAS", 100, False),
])
def test_a_mandate_covers_its_payee_up_to_its_limit(limit, payee, amount, covered):
    assert rules.mandate_covers(mandate_payee="CZ-WATER", mandate_limit_fen=limit,
                                payee_code=payee, amount_fen=amount) is covered


def test_a_mandate_pays_on_or_after_the_due_date_never_early():
    assert rules.mandate_due(date(2026, 3, 2), date(2026, 3, 2))
    assert not rules.mandate_due(date(2026, 3, 3), date(2026, 3, 2))


def test_receipt_numbers_and_bank_request_ids():
    assert rules.receipt_no(datetime(2026, 3, 2, tzinfo=UTC), 123) == "JF20260302000123"
    assert rules.payment_request_id("click-1") == "bill:click-1"
    long_a, long_b = "k" * 99 + "a", "k" * 99 + "b"  # the same first 99 characters
    assert len(rules.payment_request_id(long_a)) == 64
    assert rules.payment_request_id(long_a) != rules.payment_request_id(long_b)
    assert rules.payment_request_id(long_a) == rules.payment_request_id(long_a)
    assert rules.refund_request_id("JF1") == "bill-refund:JF1"


def test_only_a_due_bill_is_paid_and_only_a_paid_payment_refunded():
    assert rules.payable("due") and not rules.payable("paid") and not rules.payable("refunded")
    assert rules.refundable("paid") and not rules.refundable("refunded")


def test_the_figures_name_their_sources_and_the_three_reference_billers():
    assert {b.code for b in F.billers} == {"CZ-WATER", "CZ-POWER", "CZ-GAS"}
    for table in (F.flexible, F.resident_medical, F.resident_pension, F.exam):
        assert table.source and table.confidence in "HML"
    assert F.exam.fee_per_subject_fen == 5_000 and F.flexible.rate_bp == 2_000


def test_a_figures_file_with_an_unknown_key_or_a_bad_figure_is_refused_whole():
    text = CONFIG.read_text(encoding="utf-8")
    with pytest.raises(BillsConfigInvalid) as refused:
        parse_figures(text.replace("rate_bp = 2000", "rate_bp = 2000\nrate_typo = 1"))
    assert "rate_typo" in refused.value.message_en
    with pytest.raises(BillsConfigInvalid):
        parse_figures(text.replace("base_min_bp = 6000", "base_min_bp = -1"))
