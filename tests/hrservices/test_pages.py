"""The HR services' pages through the ASGI app, as a browser would (cookies, CSRF tokens,
multipart uploads): the holder opens a case, uploads, submits and follows it; the HR officer
claims, sends back, approves; the outlet opens a case with the card read; a lost card is told."""

from __future__ import annotations

import re

import pytest

from tests.cards.conftest import act
from tests.hrservices.conftest import PDF, holder
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.hrservices import service

pytestmark = pytest.mark.db


def case_id_of(answer) -> int:
    assert answer.status_code == 303, answer.text
    return int(re.search(r"/cases/(\d+)$", answer.headers["location"]).group(1))


def upload(client, path: str, kind: str, **fields):
    token = form_token(client, path.rsplit("/documents", 1)[0])
    return client.post(path, data={"csrf_token": token, **fields, "kind": kind},
                       files={"document": (f"{kind}.pdf", PDF, "application/pdf")}, follow_redirects=False)


def test_the_holder_opens_uploads_submits_and_the_officer_decides_on_the_pages(platform, signed_in, citizen):  # noqa: F811
    _, person_id, _ = citizen
    me = signed_in(Role.HOLDER, person_id=person_id)
    page = me.get("/me/services")
    assert page.status_code == 200 and "就业登记" in page.text and "失业保险金申领" in page.text
    token = form_token(me, "/me/services")
    case_id = case_id_of(me.post("/me/services", data={"csrf_token": token, "service_code": "employment_registration",
                                                       "employer_name": "常州灯笼厂"}, follow_redirects=False))
    page = me.get(f"/me/services/cases/{case_id}")
    assert page.status_code == 200 and "材料收集中" in page.text and 'enctype="multipart/form-data"' in page.text
    assert "常州灯笼厂" in page.text and "劳动合同" in page.text  # what is still needed
    for kind in ("id_card", "labour_contract"):
        assert upload(me, f"/me/services/cases/{case_id}/documents", kind).status_code == 303
    refused = upload(me, f"/me/services/cases/{case_id}/documents", "invoices")
    assert refused.status_code == 422 and "hr_document_refused" in refused.text
    token = form_token(me, f"/me/services/cases/{case_id}")
    assert me.post(f"/me/services/cases/{case_id}/submit", data={"csrf_token": token},
                   follow_redirects=False).status_code == 303
    assert "已提交，待受理" in me.get(f"/me/services/cases/{case_id}").text

    officer = signed_in(Role.HR_OFFICER, username="hr-page-officer")
    queue = officer.get("/hr/queue")
    assert queue.status_code == 200 and f'/hr/cases/{case_id}"' in queue.text
    case_page = officer.get(f"/hr/cases/{case_id}")
    assert case_page.status_code == 200 and "受理审核" in case_page.text
    with platform.uow() as uow:
        ssn = service.masked_person(uow, person_id)["ssn"]
    assert ssn in case_page.text and "*" in ssn  # the ID number masked
    token = form_token(officer, f"/hr/cases/{case_id}")
    assert officer.post(f"/hr/cases/{case_id}/claim", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    token = form_token(officer, f"/hr/cases/{case_id}")
    sent = officer.post(f"/hr/cases/{case_id}/request-documents",
                        data={"csrf_token": token, "kinds": ["labour_contract"], "ask_note": "合同缺页"},
                        follow_redirects=False)
    assert sent.status_code == 303
    page = me.get(f"/me/services/cases/{case_id}")
    assert "待补正材料" in page.text and "合同缺页" in page.text
    upload(me, f"/me/services/cases/{case_id}/documents", "labour_contract")
    token = form_token(me, f"/me/services/cases/{case_id}")
    me.post(f"/me/services/cases/{case_id}/submit", data={"csrf_token": token})
    token = form_token(officer, f"/hr/cases/{case_id}")
    officer.post(f"/hr/cases/{case_id}/claim", data={"csrf_token": token})
    document_id = service_case(platform, case_id).documents[0].id
    shown = officer.get(f"/hr/cases/{case_id}/documents/{document_id}")
    assert shown.status_code == 200 and shown.content == PDF
    token = form_token(officer, f"/hr/cases/{case_id}")
    assert officer.post(f"/hr/cases/{case_id}/approve", data={"csrf_token": token, "note": "准予"},
                        follow_redirects=False).status_code == 303
    assert "已办结：准予" in me.get(f"/me/services/cases/{case_id}").text
    assert service_case(platform, case_id).state == "approved"


def service_case(platform, case_id: int):
    from tests.hrservices.conftest import OFFICER

    with platform.uow() as uow:
        return service.get_case(uow=uow, actor=OFFICER, case_id=case_id)


def test_the_officer_approves_a_work_injury_reimbursement_in_yuan(platform, signed_in, citizen, monkeypatch):  # noqa: F811
    from tests.hrservices.conftest import open_with_documents

    _, person_id, _ = citizen
    plans = []
    monkeypatch.setattr(service, "enrol_in_programme", lambda **kw: plans.append(kw["plan"]))
    case = open_with_documents(platform, holder(person_id), "work_injury_reimbursement")
    officer = signed_in(Role.HR_OFFICER, username="hr-page-officer-2")
    token = form_token(officer, f"/hr/cases/{case.id}")
    officer.post(f"/hr/cases/{case.id}/claim", data={"csrf_token": token})
    page = officer.get(f"/hr/cases/{case.id}")
    assert "核定金额（元）" in page.text
    token = form_token(officer, f"/hr/cases/{case.id}")
    bad = officer.post(f"/hr/cases/{case.id}/approve", data={"csrf_token": token, "amount_yuan": "12.345"})
    assert bad.status_code == 422 and "至多两位小数" in bad.text
    token = form_token(officer, f"/hr/cases/{case.id}")
    done = officer.post(f"/hr/cases/{case.id}/approve", data={"csrf_token": token, "amount_yuan": "1,234.50"},
                        follow_redirects=False)
    assert done.status_code == 303 and plans[0].monthly_fen == 123_450


def test_the_outlet_opens_a_case_with_the_card_read_and_uploads_with_it(platform, signed_in, citizen):  # noqa: F811
    _, person_id, card_no = citizen
    desk = signed_in(Role.SS_OUTLET, branch_code="SS-TN-01")
    token = form_token(desk, "/counter/services")
    case_id = case_id_of(desk.post("/counter/services", data={
        "csrf_token": token, "card_no": card_no, "service_code": "social_insurance_enrolment"}, follow_redirects=False))
    assert upload(desk, f"/counter/services/cases/{case_id}/documents", "id_card", card_no=card_no).status_code == 303
    without_card = upload(desk, f"/counter/services/cases/{case_id}/documents", "id_card")
    assert without_card.status_code == 409 and "hr_card_refused" in without_card.text
    token = form_token(desk, f"/counter/services/cases/{case_id}")
    submitted = desk.post(f"/counter/services/cases/{case_id}/submit", data={"csrf_token": token, "card_no": card_no},
                          follow_redirects=False)
    assert submitted.status_code == 303, submitted.text[-3000:]
    case = service_case(platform, case_id)
    assert (case.person_id, case.channel, case.state) == (person_id, "outlet", "submitted")


def test_a_holder_whose_card_is_formally_lost_is_told_why_and_cannot_open(platform, signed_in, citizen):  # noqa: F811
    _, person_id, card_no = citizen
    act(platform, cards.report_loss, actor=holder(person_id), card_no=card_no, kind="formal")
    me = signed_in(Role.HOLDER, person_id=person_id)
    page = me.get("/me/services")
    assert page.status_code == 200 and 'id="card-refused"' in page.text and "正式挂失" in page.text
    assert 'action="/me/services"' not in page.text
    token = form_token(me, "/me/services")
    refused = me.post("/me/services", data={"csrf_token": token, "service_code": "employment_registration"})
    assert refused.status_code == 409 and "hr_card_refused" in refused.text


def test_a_form_sent_twice_opens_one_case(platform, signed_in, citizen):  # noqa: F811
    _, person_id, _ = citizen
    me = signed_in(Role.HOLDER, person_id=person_id)
    page = me.get("/me/services")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    token = form_token(me, "/me/services")
    form = {"csrf_token": token, "service_code": "unemployment_registration", "idempotency_key": key}
    first = case_id_of(me.post("/me/services", data=form, follow_redirects=False))
    assert case_id_of(me.post("/me/services", data=form, follow_redirects=False)) == first
    with platform.uow() as uow:
        assert len(service.cases_of(uow=uow, actor=holder(person_id))) == 1
