"""What approvals lead to: medical insurance enrolment (medical.service.enrol) for social
insurance enrolment, and enrolment in the unemployment and work-injury programmes through the
benefits seam, each in the decision's own transaction (a refused enrolment leaves the case
under review and nothing enrolled)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.cards.conftest import act
from tests.hrservices.conftest import OFFICER, claimed, holder, open_with_documents
from yikatong.core.errors import DomainError
from yikatong.hrservices import service
from yikatong.hrservices.catalogue import unemployment_figures
from yikatong.hrservices.service import Decision
from yikatong.medical import service as medical

pytestmark = pytest.mark.db

EMPLOYER = "91320411MA1Q2W3E4F"
TODAY = date(2026, 3, 2)  # the clock fixture's day in Changzhou


def case_in_review(platform, person_id: int, service_code: str, **particulars):
    case = open_with_documents(platform, holder(person_id), service_code, particulars=particulars or None)
    return claimed(platform, case.id)


def test_social_insurance_enrolment_enrols_the_person_in_medical_insurance(platform, citizen):
    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "social_insurance_enrolment", employer_name="常州灯笼厂")
    case = act(platform, service.approve_case, actor=OFFICER, case_id=case.id,
               decision=Decision(scheme="310", employer_uscc=EMPLOYER, insured_admdvs="320402",
                                 start_date=date(2026, 3, 1)))
    with platform.uow() as uow:
        enrolment = medical.enrolment_on(uow=uow, person_id=person_id, day=TODAY)
    assert (enrolment.scheme, enrolment.employer_uscc, enrolment.employer_name, enrolment.start_date) == (
        "310", EMPLOYER, "常州灯笼厂", date(2026, 3, 1))
    assert case.state == "approved" and case.outcome["kind"] == "medical_enrolment"
    assert case.outcome["psn_no"] == enrolment.psn_no and case.outcome["enrolment_id"] == enrolment.id


def test_a_medical_enrolment_refused_leaves_the_case_under_review_and_nothing_enrolled(platform, citizen):
    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "social_insurance_enrolment")
    with pytest.raises(DomainError) as refused:  # an employee scheme without an employer
        act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=Decision(scheme="310"))
    assert refused.value.code.startswith("medical_")
    with platform.uow() as uow:
        assert medical.enrolment_on(uow=uow, person_id=person_id, day=TODAY) is None
        assert service.get_case(uow=uow, actor=OFFICER, case_id=case.id).state == "in_review"
    act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=Decision(scheme="390"))
    with platform.uow() as uow:
        assert medical.enrolment_on(uow=uow, person_id=person_id, day=TODAY).scheme == "390"


@pytest.fixture
def enrolled(monkeypatch):
    """The benefits seam recorded (the real one is tested below when the benefits domain is
    there): the calls it got, in the decision's transaction."""
    calls = []

    class View:
        id = 77

    def fake(*, uow, actor, person_id, plan, source_ref):
        calls.append({"person_id": person_id, "plan": plan, "source_ref": source_ref, "actor": actor.user_id})
        return View()

    monkeypatch.setattr(service, "enrol_in_programme", fake)
    return calls


@pytest.mark.parametrize(("months", "benefit_months"), [(12, 12), (59, 12), (60, 18), (119, 18), (120, 24), (300, 24)])
def test_unemployment_benefit_enrols_for_the_duration_the_contributions_give(platform, citizen, enrolled,
                                                                              months, benefit_months):
    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "unemployment_benefit")
    case = act(platform, service.approve_case, actor=OFFICER, case_id=case.id,
               decision=Decision(contribution_months=months))
    plan = enrolled[0]["plan"]
    assert (plan.programme_code, plan.monthly_fen, plan.start_period) == ("unemployment", 224_100, "2026-03")
    assert plan.end_period == service.rules.add_months("2026-03", benefit_months - 1)
    assert enrolled[0]["source_ref"] == f"hr-case:{case.id}" and enrolled[0]["person_id"] == person_id
    assert case.outcome["enrolment_id"] == 77 and case.outcome["programme"] == "unemployment"


def test_less_than_a_year_of_contributions_is_not_entitled_and_changes_nothing(platform, citizen, enrolled):
    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "unemployment_benefit")
    for decision, code in ((Decision(contribution_months=11), "hr_not_entitled"),
                           (Decision(), "hr_invalid_decision")):
        with pytest.raises(DomainError) as refused:
            act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=decision)
        assert refused.value.code == code
    assert enrolled == []
    with platform.uow() as uow:
        assert service.get_case(uow=uow, actor=OFFICER, case_id=case.id).state == "in_review"


def test_work_injury_reimbursement_enrols_one_payment_of_the_approved_amount(platform, citizen, enrolled):
    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "work_injury_reimbursement")
    with pytest.raises(DomainError) as refused:
        act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=Decision(amount_fen=0))
    assert refused.value.code == "hr_invalid_decision"
    case = act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=Decision(amount_fen=1_234_56))
    plan = enrolled[0]["plan"]
    assert (plan.programme_code, plan.monthly_fen, plan.start_period, plan.end_period) == (
        "work_injury", 123_456, "2026-03", "2026-03")


def test_a_failing_programme_enrolment_rolls_the_decision_back(platform, citizen, monkeypatch):
    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "work_injury_reimbursement")

    def failing(**_):
        raise DomainError(zh="不可", en="no")

    monkeypatch.setattr(service, "enrol_in_programme", failing)
    with pytest.raises(DomainError):
        act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=Decision(amount_fen=100))
    with platform.uow() as uow:
        assert service.get_case(uow=uow, actor=OFFICER, case_id=case.id).state == "in_review"


def test_an_approved_unemployment_claim_is_enrolled_in_the_benefits_programme(platform, citizen):
    from yikatong.benefits import service as benefits

    _, person_id, _ = citizen
    with platform.uow() as uow:
        benefits.load_reference_data(uow=uow, actor=service._platform_actor(OFFICER))
        uow.commit()
    case = case_in_review(platform, person_id, "unemployment_benefit")
    case = act(platform, service.approve_case, actor=OFFICER, case_id=case.id,
               decision=Decision(contribution_months=72))
    with platform.uow() as uow:
        [enrolment] = benefits.enrolments_of(uow=uow, person_id=person_id)
    assert (enrolment.programme_code, enrolment.monthly_fen, enrolment.start_period, enrolment.end_period) == (
        "unemployment", 224_100, "2026-03", "2027-08")  # 6 years: 18 months
    assert (enrolment.source, enrolment.source_ref) == ("hrservices", f"hr-case:{case.id}")
    assert case.state == "approved" and case.outcome["enrolment_id"] == enrolment.id
    with platform.uow() as uow:  # idempotent by (programme, person, source_ref)
        plan = service.rules.unemployment_plan(
            decided_on=TODAY, contribution_months=72, durations=unemployment_figures().durations,
            min_wage_monthly_fen=249_000, rate_bp=9000)
        again = service.enrol_in_programme(uow=uow, actor=OFFICER, person_id=person_id, plan=plan,
                                           source_ref=f"hr-case:{case.id}")
        assert again.id == enrolment.id


def test_an_approved_work_injury_reimbursement_is_one_payment_in_the_programme(platform, citizen):
    from yikatong.benefits import service as benefits

    _, person_id, _ = citizen
    case = case_in_review(platform, person_id, "work_injury_reimbursement")
    act(platform, service.approve_case, actor=OFFICER, case_id=case.id, decision=Decision(amount_fen=88_000))
    with platform.uow() as uow:
        [enrolment] = benefits.enrolments_of(uow=uow, person_id=person_id)
    assert (enrolment.programme_code, enrolment.monthly_fen, enrolment.start_period, enrolment.end_period) == (
        "work_injury", 88_000, "2026-03", "2026-03")
