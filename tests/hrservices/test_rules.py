"""The pure rules of HR service cases (hrservices.rules) and the catalogue file: table tests
from domain-rules §4 and a Hypothesis check of the state machine."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.hrservices import rules
from yikatong.hrservices.catalogue import CatalogueInvalid, default_catalogue, load_catalogue
from yikatong.hrservices.rules import CaseState, Duration, Step

DURATIONS = (Duration(120, 24), Duration(60, 18), Duration(12, 12))


@pytest.mark.parametrize(("months", "benefit"), [
    (0, 0), (11, 0), (12, 12), (59, 12), (60, 18), (119, 18), (120, 24), (480, 24)])
def test_unemployment_duration_by_contribution_years(months, benefit):
    # 《失业保险条例》 art. 17: 1–<5 years → 12 months, 5–<10 → 18, ≥ 10 → 24
    assert rules.unemployment_months(months, DURATIONS) == benefit


def test_the_monthly_benefit_is_ninety_percent_of_the_minimum_wage_rounded_down():
    assert rules.unemployment_monthly_fen(249_000, 9000) == 224_100
    assert rules.unemployment_monthly_fen(249_999, 9000) == 224_999  # 224,999.1 → down


def test_plans_run_from_the_decision_month():
    plan = rules.unemployment_plan(decided_on=date(2026, 11, 30), contribution_months=60,
                                   durations=DURATIONS, min_wage_monthly_fen=249_000, rate_bp=9000)
    assert (plan.programme_code, plan.start_period, plan.end_period) == ("unemployment", "2026-11", "2028-04")
    assert rules.unemployment_plan(decided_on=date(2026, 11, 30), contribution_months=3, durations=DURATIONS,
                                   min_wage_monthly_fen=1, rate_bp=1) is None
    once = rules.work_injury_plan(decided_on=date(2026, 1, 5), amount_fen=500)
    assert (once.start_period, once.end_period, once.monthly_fen) == ("2026-01", "2026-01", 500)


@pytest.mark.parametrize(("period", "months", "expected"), [
    ("2026-01", 0, "2026-01"), ("2026-01", 11, "2026-12"), ("2026-12", 1, "2027-01"), ("2026-03", 23, "2028-02")])
def test_add_months(period, months, expected):
    assert rules.add_months(period, months) == expected


@pytest.mark.parametrize(("status", "refused"), [
    ("normal", None), ("temporary_loss", None), ("formal_loss", "formal_loss"), ("retired", "retired"),
    ("cancelled", "cancelled"), ("not_in_use", "not_in_use"), ("frozen", "frozen"), (None, "no_card")])
def test_which_cards_may_open_a_case(status, refused):
    refusal = rules.card_refusal(status)
    assert (refusal[0] if refusal else None) == refused
    if refusal:
        assert refusal[1] and refusal[2]  # both languages


PDF, PNG, JPEG = b"%PDF-1.7 x", b"\x89PNG\r\n\x1a\n...", b"\xff\xd8\xff\xe0..."
TYPES = ("application/pdf", "image/jpeg", "image/png")


@pytest.mark.parametrize(("content", "content_type", "name", "limit", "problem"), [
    (PDF, "application/pdf", "a.pdf", 100, None),
    (PNG, "image/png", "a.png", 100, None),
    (JPEG, "image/jpeg", "照片.jpg", 100, None),
    (PDF, "image/png", "a.png", 100, "content_mismatch"),
    (PDF, "text/html", "a.html", 100, "type_not_allowed"),
    (PDF * 20, "application/pdf", "a.pdf", 100, "too_large"),
    (b"", "application/pdf", "a.pdf", 100, "empty"),
    (PDF, "application/pdf", "", 100, "bad_name"),
    (PDF, "application/pdf", "x/a.pdf", 100, "bad_name"),
])
def test_document_checks(content, content_type, name, limit, problem):
    found = rules.document_problem(content=content, content_type=content_type, file_name=name,
                                   allowed_types=TYPES, max_bytes=limit)
    assert (found.code if found else None) == problem


def test_missing_documents_in_catalogue_order():
    assert rules.missing_documents(("id_card", "contract", "proof"), {"proof"}) == ["id_card", "contract"]


@settings(max_examples=50)
@given(st.lists(st.sampled_from(list(Step)), max_size=12))
def test_the_state_machine_never_leaves_a_decided_case(steps):
    state = CaseState.OPEN
    for step in steps:
        after = rules.next_state(state, step)
        if state in rules.DECIDED:
            assert after is None
        if after is not None:
            state = after
    assert state in set(CaseState)


def test_the_packaged_catalogue_has_the_services_the_seed_names_and_the_money_ones():
    book = default_catalogue()
    codes = {s.code for s in book.services}
    assert {"employment_registration", "unemployment_registration", "social_insurance_enrolment",
            "professional_title_recognition", "work_injury_recognition", "unemployment_benefit",
            "work_injury_reimbursement"} <= codes
    assert book.service("social_insurance_enrolment").outcome == "medical_enrolment"
    assert all(s.required and s.review_steps for s in book.services)
    assert book.unemployment.confidence == "L"


def test_a_catalogue_naming_an_undeclared_document_is_refused_whole():
    from yikatong.hrservices.catalogue import CONFIG, DEFAULT_FILE

    text = (CONFIG / DEFAULT_FILE).read_text(encoding="utf-8")
    broken = text.replace('required = ["id_card", "labour_contract"]', 'required = ["id_card", "diploma"]', 1)
    with pytest.raises(CatalogueInvalid) as refused:
        load_catalogue(broken, origin="test.toml")
    assert "employment_registration names undeclared documents diploma" in refused.value.message_en
    with pytest.raises(CatalogueInvalid) as refused:
        load_catalogue(text.replace("max_claim_fen = 50000000", "max_claim_fen = 0"), origin="test.toml")
    assert "work_injury.max_claim_fen" in refused.value.message_en
