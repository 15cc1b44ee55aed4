"""The case lifecycle through hrservices.service: opened by the holder (card or e-card) or at an
outlet, documents attached and checked, submitted, claimed, sent back for documents, decided;
every step one audit record; a formally lost or retired card cannot open or carry a case."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.cards.conftest import ADMIN, OUTLET, act
from tests.hrservices.conftest import (
    JPEG,
    OFFICER,
    OTHER_OFFICER,
    PDF,
    claimed,
    holder,
    open_with_documents,
)
from yikatong.audit.models import AuditRecord
from yikatong.cards import service as cards
from yikatong.core.errors import DomainError
from yikatong.hrservices import service
from yikatong.hrservices.rules import CaseState

pytestmark = pytest.mark.db


def audit_actions(platform, case_id: int) -> list[str]:
    with platform.uow() as uow:
        return list(uow.session.execute(
            select(AuditRecord.action).where(AuditRecord.entity_type == "hr_case",
                                             AuditRecord.entity_id == str(case_id))
            .order_by(AuditRecord.seq)).scalars())


def refused(platform, operation, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        act(platform, operation, **kwargs)
    return caught.value


def test_a_holder_opens_attaches_submits_and_the_officer_approves(platform, citizen):
    _, person_id, card_no = citizen
    me = holder(person_id)
    case = act(platform, service.open_case, actor=me, service_code="employment_registration",
               particulars={"employer_name": "常州天宁灯笼厂"})
    assert (case.state, case.channel, case.credential, case.card_no) == ("open", "online", "card", card_no)
    assert case.missing == ("id_card", "labour_contract")
    error = refused(platform, service.submit_case, actor=me, case_id=case.id)
    assert error.code == "hr_documents_missing" and "劳动合同" in error.message_zh
    act(platform, service.attach_document, actor=me, case_id=case.id, kind="id_card",
        file_name="id.jpg", content_type="image/jpeg", content=JPEG)
    act(platform, service.attach_document, actor=me, case_id=case.id, kind="labour_contract",
        file_name="contract.pdf", content_type="application/pdf", content=PDF)
    case = act(platform, service.submit_case, actor=me, case_id=case.id)
    assert case.state == "submitted" and case.missing == ()
    with platform.uow() as uow:
        assert [c.id for c in service.queue(uow=uow, actor=OFFICER)] == [case.id]
    case = claimed(platform, case.id)
    assert case.state == "in_review" and case.officer == OFFICER.user_id
    assert refused(platform, service.approve_case, actor=OTHER_OFFICER, case_id=case.id).code == "hr_not_the_reviewer"
    case = act(platform, service.approve_case, actor=OFFICER, case_id=case.id)
    assert case.state == "approved" and case.outcome == {"kind": "record"} and case.decided_at is not None
    assert audit_actions(platform, case.id) == [
        "hr.case_opened", "hr.document_attached", "hr.document_attached", "hr.case_submitted",
        "hr.case_claimed", "hr.case_approved"]
    assert [h["step"] for h in case.history] == ["open", "attach", "attach", "submit", "claim", "approve"]
    # decided: nothing more can happen to it
    assert refused(platform, service.withdraw_case, actor=me, case_id=case.id).code == "hr_step_not_allowed"


def test_the_officer_asks_for_documents_and_the_holder_gives_them_before_submitting_again(platform, citizen):
    _, person_id, _ = citizen
    me = holder(person_id)
    case = open_with_documents(platform, me, "professional_title_recognition")
    claimed(platform, case.id)
    assert refused(platform, service.ask_for_documents, actor=OFFICER, case_id=case.id, kinds=["invoices"],
                   note="x").code == "hr_invalid_decision"  # not a kind of this service
    case = act(platform, service.ask_for_documents, actor=OFFICER, case_id=case.id,
               kinds=["title_certificate"], note="原证书不清晰，请重新上传")
    assert case.state == "more_documents" and case.requested["kinds"] == ["title_certificate"]
    # the earlier title certificate does not count: a new one is needed
    assert refused(platform, service.submit_case, actor=me, case_id=case.id).code == "hr_documents_missing"
    act(platform, service.attach_document, actor=me, case_id=case.id, kind="title_certificate",
        file_name="title-2.pdf", content_type="application/pdf", content=PDF)
    case = act(platform, service.submit_case, actor=me, case_id=case.id)
    assert case.state == "submitted"
    claimed(platform, case.id, OTHER_OFFICER)
    assert refused(platform, service.refuse_case, actor=OTHER_OFFICER, case_id=case.id, reason=" ").code == "hr_invalid_decision"
    case = act(platform, service.refuse_case, actor=OTHER_OFFICER, case_id=case.id, reason="学历与申报系列不符")
    assert case.state == "refused" and case.decision_reason == "学历与申报系列不符"
    assert "hr.documents_requested" in audit_actions(platform, case.id)


def test_documents_are_checked_by_kind_type_size_and_content(platform, citizen):
    _, person_id, _ = citizen
    me = holder(person_id)
    case = act(platform, service.open_case, actor=me, service_code="employment_registration")
    cases = [("id_card", "a.pdf", "application/pdf", b"not a pdf", "content_mismatch"),
             ("id_card", "a.gif", "image/gif", b"GIF89a", "type_not_allowed"),
             ("id_card", "a.pdf", "application/pdf", b"", "empty"),
             ("id_card", "../a.pdf", "application/pdf", PDF, "bad_name"),
             ("id_card", "a.pdf", "application/pdf", PDF + b"0" * (2 * 1024 * 1024), "too_large")]
    for kind, name, content_type, content, problem in cases:
        error = refused(platform, service.attach_document, actor=me, case_id=case.id, kind=kind,
                        file_name=name, content_type=content_type, content=content)
        assert (error.code, error.details["problem"]) == ("hr_document_refused", problem), problem
    assert refused(platform, service.attach_document, actor=me, case_id=case.id, kind="invoices",
                   file_name="a.pdf", content_type="application/pdf", content=PDF).code == "hr_document_refused"
    document = act(platform, service.attach_document, actor=me, case_id=case.id, kind="id_card",
                   file_name="id.pdf", content_type="application/pdf", content=PDF)
    with platform.uow() as uow:
        view, content = service.document_content(uow=uow, actor=OFFICER, case_id=case.id, document_id=document.id)
    assert content == PDF and view.sm3.startswith("sm3:") and view.size == len(PDF)
    assert audit_actions(platform, case.id) == ["hr.case_opened", "hr.document_attached"]  # refusals change nothing


def test_holders_see_only_their_own_cases_and_outlets_those_opened_there(platform, citizen):
    from tests.cards.conftest import person_with_card

    _, person_id, _ = citizen
    _, other_id, _ = person_with_card(platform)
    case = act(platform, service.open_case, actor=holder(person_id), service_code="unemployment_registration")
    for stranger in (holder(other_id), OUTLET):
        assert refused(platform, service.attach_document, actor=stranger, case_id=case.id, kind="id_card",
                       file_name="a.pdf", content_type="application/pdf", content=PDF,
                       card_no=None).code in ("hr_case_not_found", "hr_card_refused", "hr_credential_person_mismatch")
        with platform.uow() as uow, pytest.raises(DomainError) as caught:
            service.get_case(uow=uow, actor=stranger, case_id=case.id)
        assert caught.value.code == "hr_case_not_found"
    with platform.uow() as uow:
        assert [c.id for c in service.cases_of(uow=uow, actor=holder(person_id))] == [case.id]
        assert service.cases_of(uow=uow, actor=holder(other_id)) == []


def test_an_outlet_reads_the_card_and_opens_the_case_for_the_person(platform, citizen):
    _, person_id, card_no = citizen
    case = open_with_documents(platform, OUTLET, "work_injury_recognition", card_no=card_no)
    assert (case.channel, case.outlet_code, case.person_id, case.state) == ("outlet", OUTLET.branch_code, person_id, "submitted")
    with platform.uow() as uow:  # the holder follows it online
        assert service.get_case(uow=uow, actor=holder(person_id), case_id=case.id).state == "submitted"
    assert refused(platform, service.open_case, actor=OUTLET, service_code="work_injury_recognition").code == "hr_card_refused"


def test_a_formally_lost_card_cannot_open_or_carry_a_case(platform, citizen):
    _, person_id, card_no = citizen
    me = holder(person_id)
    case = act(platform, service.open_case, actor=me, service_code="employment_registration")
    act(platform, cards.report_loss, actor=me, card_no=card_no, kind="formal")
    error = refused(platform, service.open_case, actor=me, service_code="employment_registration")
    assert (error.code, error.http_status, error.details["reason"]) == ("hr_card_refused", 409, "formal_loss")
    assert "正式挂失" in error.message_zh and "formally reported lost" in error.message_en
    assert refused(platform, service.open_case, actor=OUTLET, service_code="employment_registration",
                   card_no=card_no).details["reason"] == "formal_loss"
    assert refused(platform, service.attach_document, actor=me, case_id=case.id, kind="id_card",
                   file_name="a.pdf", content_type="application/pdf", content=PDF).code == "hr_card_refused"
    with platform.uow() as uow:
        assert [c.state for c in service.cases_of(uow=uow, actor=me)] == [CaseState.OPEN]


def test_a_retired_card_cannot_open_a_case(platform, citizen):
    _, person_id, card_no = citizen
    act(platform, cards.transfer_out, actor=OUTLET, card_no=card_no, destination_province="31",
        rule_note="上海：转入后换发本地卡")
    error = refused(platform, service.open_case, actor=holder(person_id), service_code="employment_registration")
    assert (error.code, error.details["reason"]) == ("hr_card_refused", "retired")
    error = refused(platform, service.open_case, actor=OUTLET, service_code="employment_registration", card_no=card_no)
    assert (error.code, error.details["reason"]) == ("hr_card_refused", "retired")


@pytest.mark.no_db
def test_a_login_not_bound_to_a_person_cannot_open_a_case(platform):
    from yikatong.core.actor import Actor, Channel, Role

    unbound = Actor(user_id="new-login", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL, account_id=1)
    assert refused(platform, service.open_case, actor=unbound,
                   service_code="employment_registration").code == "hr_login_not_bound"
    assert refused(platform, service.open_case, actor=ADMIN,
                   service_code="employment_registration").code == "hr_not_outlet"


def test_opening_is_idempotent_by_key(platform, citizen):
    _, person_id, _ = citizen
    me = holder(person_id)
    first = act(platform, service.open_case, actor=me, service_code="employment_registration", idempotency_key="k-1")
    again = act(platform, service.open_case, actor=me, service_code="employment_registration", idempotency_key="k-1")
    assert first.id == again.id
    with platform.uow() as uow:
        assert len(service.cases_of(uow=uow, actor=me)) == 1


def test_the_holder_withdraws_a_case_not_yet_under_review(platform, citizen):
    _, person_id, _ = citizen
    me = holder(person_id)
    case = open_with_documents(platform, me, "employment_registration")
    case = act(platform, service.withdraw_case, actor=me, case_id=case.id, reason="已找到其他途径")
    assert case.state == "withdrawn"
    assert refused(platform, service.claim_case, actor=OFFICER, case_id=case.id).code == "hr_step_not_allowed"


def test_the_cli_lists_the_catalogue_and_the_cases(platform, citizen, monkeypatch):
    from tests.conftest import cli_on

    _, person_id, _ = citizen
    case = open_with_documents(platform, holder(person_id), "employment_registration")
    run = cli_on(platform, monkeypatch)
    listed = run("hr", "catalogue")
    assert listed.exit_code == 0, listed.output
    assert "work_injury_reimbursement" in listed.output and "失业登记" in listed.output
    cases = run("hr", "cases", "--state", "submitted")
    assert cases.exit_code == 0 and f"│ {case.id} " in cases.output and "submitted 1" in cases.output
    wrong = run("hr", "cases", "--state", "nonsense")
    assert wrong.exit_code != 0 and "hr_invalid_decision" in wrong.output


def test_a_linked_guardian_opens_and_follows_a_case_for_a_child_under_16(platform, citizen):
    from datetime import date

    from tests.cards.conftest import card_in_use
    from tests.people.test_guardians import link, person

    _, parent_id, _ = citizen
    child_id = person(platform, date(2014, 6, 1), 42)
    child_card = card_in_use(platform, person_id=child_id)
    parent = holder(parent_id)
    assert refused(platform, service.open_case, actor=parent, service_code="social_insurance_enrolment",
                   person_id=child_id).code == "hr_credential_person_mismatch"  # not linked yet
    link(platform, parent_id, child_id)
    case = act(platform, service.open_case, actor=parent, service_code="social_insurance_enrolment",
               person_id=child_id)
    assert (case.person_id, case.card_no) == (child_id, child_card)
    act(platform, service.attach_document, actor=parent, case_id=case.id, kind="id_card",
        file_name="id.pdf", content_type="application/pdf", content=PDF)
    assert act(platform, service.submit_case, actor=parent, case_id=case.id).state == "submitted"
    with platform.uow() as uow:
        opened = uow.session.execute(select(AuditRecord.after).where(
            AuditRecord.entity_type == "hr_case", AuditRecord.action == "hr.case_opened")).scalar_one()
    assert opened["acting_for_person_id"] == child_id


def test_the_holder_is_texted_when_documents_are_asked_for_and_when_the_case_is_decided(platform, citizen):
    from yikatong.notices import service as notices

    _, person_id, _ = citizen
    case = open_with_documents(platform, holder(person_id), "unemployment_registration")
    claimed(platform, case.id)
    act(platform, service.ask_for_documents, actor=OFFICER, case_id=case.id, kinds=["termination_proof"],
        note="需加盖公章")
    act(platform, service.attach_document, actor=holder(person_id), case_id=case.id, kind="termination_proof",
        file_name="p.pdf", content_type="application/pdf", content=PDF)
    act(platform, service.submit_case, actor=holder(person_id), case_id=case.id)
    claimed(platform, case.id)
    act(platform, service.refuse_case, actor=OFFICER, case_id=case.id, reason="不符合条件")
    with platform.uow() as uow:
        texts = notices.list_messages(uow=uow, person_id=person_id)
    by_template = {t.template: t for t in texts}
    assert "需加盖公章" in by_template["hr_documents_requested"].text_zh
    assert "不予办理" in by_template["hr_case_decided"].text_zh and "refused" in by_template["hr_case_decided"].text_en
