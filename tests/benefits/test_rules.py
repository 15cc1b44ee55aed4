"""The benefits rules, table-driven: calendar, eligibility and amounts, batches, file rows,
reconciliation."""

from __future__ import annotations

from datetime import date

import pytest

from yikatong.banking import bankfiles
from yikatong.benefits import rules
from yikatong.benefits.catalogue import packaged_calendar, packaged_programmes, parse_programmes
from yikatong.benefits.errors import InvalidProgrammes
from yikatong.benefits.rules import Calendar, Tally


@pytest.mark.parametrize(("period", "expected"), [
    ("2026-12", date(2026, 12, 15)),   # a Tuesday
    ("2026-03", date(2026, 3, 13)),    # the 15th is a Sunday: Friday
    ("2026-08", date(2026, 8, 14)),    # Saturday the 15th: Friday
    ("2026-02", date(2026, 2, 14)),    # Spring Festival on the 15th; the 14th is a make-up Saturday
    ("2026-06", date(2026, 6, 15)),
])
def test_pay_day_moves_earlier_over_weekends_and_holidays(period, expected):
    assert rules.pay_date(period, 15, packaged_calendar()) == expected


def test_pay_day_skips_a_run_of_holidays():
    calendar = Calendar(holidays=frozenset({date(2026, 10, d) for d in range(1, 8)}))
    assert rules.pay_date("2026-10", 5, calendar) == date(2026, 9, 30)


@pytest.mark.parametrize(("years", "months"), [(0, 0), (0.9, 0), (1, 12), (4.9, 12), (5, 18),
                                                (9.99, 18), (10, 24), (30, 24)])
def test_unemployment_duration_by_contribution_years(years, months):
    duration = packaged_programmes().programmes["unemployment"].rules["duration"]
    assert rules.unemployment_months(years, duration) == months


def test_unemployment_amount_is_90_percent_of_minimum_wage():
    book = packaged_programmes().programmes["unemployment"].rules
    assert rules.unemployment_monthly_fen(book) == 224100  # 90% of 2,490.00 CNY


@pytest.mark.parametrize(("programme", "birth", "gender", "facts", "reason"), [
    ("pension", date(1966, 1, 1), "M", {}, None),
    ("pension", date(1967, 1, 1), "M", {}, "below_pension_age"),
    ("pension", date(1971, 1, 1), "F", {}, None),
    ("youth_talent", date(1995, 1, 1), "F", {"degree": "master", "residence": "320402"}, None),
    ("youth_talent", date(1980, 1, 1), "F", {"degree": "master", "residence": "320402"}, "over_age_limit"),
    ("youth_talent", date(1995, 1, 1), "F", {"degree": "college", "residence": "320402"},
     "degree_below_minimum"),
    ("qclc", date(1998, 6, 1), "M", {"degree": "bachelor", "residence": "320411"}, None),
    ("qclc", date(1998, 6, 1), "M", {"degree": "bachelor", "residence": "320106"}, "not_resident"),
    ("unemployment", date(1990, 1, 1), "M", {"contribution_years": 0.5}, "contributions_too_short"),
    ("unemployment", date(1990, 1, 1), "M", {"contribution_years": 3}, None),
])
def test_eligibility_limits_are_data(programme, birth, gender, facts, reason):
    spec = packaged_programmes().programmes[programme]
    assert rules.ineligibility(programme, spec.rules, birth=birth, gender=gender,
                               day=date(2026, 12, 1), facts=facts) == reason


def test_amounts_by_degree_and_enrolment_figure():
    book = packaged_programmes().programmes
    assert rules.amount_fen("youth_talent", book["youth_talent"].rules, monthly_fen=None,
                            facts={"degree": "doctor"}) == 300000
    assert rules.amount_fen("qclc", book["qclc"].rules, monthly_fen=None,
                            facts={"degree": "bachelor"}) == 500000
    assert rules.amount_fen("pension", book["pension"].rules, monthly_fen=321000, facts={}) == 321000


@pytest.mark.parametrize(("count", "cap", "sizes"), [(0, 3, []), (3, 3, [3]), (7, 3, [3, 3, 1]),
                                                     (1, 50000, [1])])
def test_split_batches(count, cap, sizes):
    assert rules.split_batches(count, cap) == sizes


def test_batch_id_and_row_ref_formats():
    assert rules.batch_id("youth_talent", "2026-12", "ICBC", 7) == "youthtalent-2026-12-ICBC-0007"
    ref = rules.row_ref("pension", "2026-12", 123456789, 2)
    assert ref == "pension:2026-12:123456789:2"
    assert rules.parse_row_ref(ref) == ("pension", "2026-12", 123456789, 2)
    with pytest.raises(ValueError):
        rules.file_row(ref=ref, pan="6212", name="x", amount=0, memo="")


def test_result_header_and_rows_are_checked():
    header = bankfiles.parse_result_header(["#YKT-DISB-RESULT-1", "b", "ICBC", "3", "100", "50", "7"])
    assert (header.row_count, header.posted_fen, header.held_fen, header.failed_fen) == (3, 100, 50, 7)
    with pytest.raises(ValueError):
        bankfiles.parse_result_header(["#YKT-DISB-1", "b"])
    with pytest.raises(ValueError):
        rules.check_result_row("failed", "because")
    rules.check_result_row("held", "")


def test_reconciliation_adds_up_only_when_every_payee_is_accounted_for():
    due = Tally(4, 1000)
    done = rules.reconcile(due, {"posted": Tally(2, 500), "held": Tally(1, 300),
                                 "failed": Tally(1, 200)})
    assert done.balanced and done.complete
    open_run = rules.reconcile(due, {"posted": Tally(2, 500), "pending": Tally(2, 500)})
    assert open_run.balanced and not open_run.complete
    short = rules.reconcile(due, {"posted": Tally(3, 800)})
    assert not short.balanced


def test_periods():
    assert rules.add_months("2026-11", 3) == "2027-02"
    assert rules.months_between("2026-01", "2026-12") == 12
    assert rules.covers("2026-01", None, "2030-05") and not rules.covers("2026-01", "2026-06", "2026-07")
    with pytest.raises(ValueError):
        rules.parse_period("2026-13")


def test_a_programme_file_with_problems_is_refused_whole():
    with pytest.raises(InvalidProgrammes) as refused:
        parse_programmes('[meta]\nbatch_rows = 0\n[[programme]]\ncode = "x"\n')
    assert "missing" in refused.value.message_en and "batch_rows" in refused.value.message_en
