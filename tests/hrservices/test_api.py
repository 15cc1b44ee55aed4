"""The HR services through /api/v1/hr: the holder's case end to end with the officer's review,
the outlet's opening with the card read, refusals as problem+json in both languages, and the
HR system's card account read (role check, whole number, audit record with the number masked)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from tests.cards.conftest import act
from tests.hrservices.conftest import PDF
from yikatong.audit.models import AuditRecord
from yikatong.cards import service as cards
from yikatong.cards.rules import mask_pan
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/hr"


def document(kind: str) -> dict:
    return {"kind": kind, "file_name": f"{kind}.pdf", "content_type": "application/pdf",
            "content_base64": base64.b64encode(PDF).decode()}


def test_a_holder_case_through_the_api_from_opening_to_the_decision(client, login, citizen):
    _, person_id, card_no = citizen
    me = login(Role.HOLDER, person_id=person_id)
    officer = login(Role.HR_OFFICER)
    services = client.get(f"{API}/services", headers=me).json()
    first = services[0]["required"][0]
    assert (services[0]["code"], first["kind"], first["zh"]) == ("employment_registration", "id_card", "居民身份证（正反面）")
    opened = client.post(f"{API}/me/cases", json={"service_code": "unemployment_registration"},
                         headers={**me, "Idempotency-Key": "open-0001"})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["state"], case["card_no"], case["missing"]) == ("open", card_no, ["id_card", "termination_proof"])
    again = client.post(f"{API}/me/cases", json={"service_code": "unemployment_registration"},
                        headers={**me, "Idempotency-Key": "open-0001"})
    assert again.json()["id"] == case["id"]
    for kind in ("id_card", "termination_proof"):
        added = client.post(f"{API}/cases/{case['id']}/documents", json=document(kind), headers=me)
        assert added.status_code == 201, added.text
    bad = client.post(f"{API}/cases/{case['id']}/documents",
                      json={**document("other"), "content_base64": base64.b64encode(b"<html>").decode()}, headers=me)
    assert bad.status_code == 422 and bad.json()["code"] == "hr_document_refused"
    assert client.post(f"{API}/cases/{case['id']}/submit", headers=me).json()["state"] == "submitted"
    assert client.post(f"{API}/cases/{case['id']}/claim", headers=me).status_code == 403  # the table
    queue = client.get(f"{API}/queue", headers=officer).json()
    assert [c["id"] for c in queue] == [case["id"]]
    assert client.post(f"{API}/cases/{case['id']}/claim", headers=officer).json()["state"] == "in_review"
    sent_back = client.post(f"{API}/cases/{case['id']}/request-documents",
                            json={"kinds": ["termination_proof"], "note": "需加盖单位公章"}, headers=officer)
    assert sent_back.json()["state"] == "more_documents"
    client.post(f"{API}/cases/{case['id']}/documents", json=document("termination_proof"), headers=me)
    client.post(f"{API}/cases/{case['id']}/submit", headers=me)
    client.post(f"{API}/cases/{case['id']}/claim", headers=officer)
    decided = client.post(f"{API}/cases/{case['id']}/approve", json={"note": "准予登记"}, headers=officer)
    assert decided.status_code == 200 and decided.json()["state"] == "approved" and decided.json()["decided"]
    mine = client.get(f"{API}/me/cases", headers=me).json()
    assert [(c["id"], c["state"]) for c in mine] == [(case["id"], "approved")]
    first = mine[0]["documents"][0]["id"]
    content = client.get(f"{API}/cases/{case['id']}/documents/{first}", headers=officer)
    assert content.status_code == 200 and content.content == PDF


def test_an_outlet_opens_with_the_card_read_and_a_lost_card_is_refused_in_both_languages(platform, client, login,
                                                                                         citizen):
    _, person_id, card_no = citizen
    outlet = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    opened = client.post(f"{API}/cases", json={"service_code": "work_injury_recognition", "card_no": card_no},
                         headers=outlet)
    assert opened.status_code == 201 and opened.json()["channel"] == "outlet"
    me = login(Role.HOLDER, person_id=person_id)
    assert client.post(f"{API}/me/cases", json={"service_code": "x_unknown"}, headers=me).status_code == 404
    from tests.hrservices.conftest import holder

    act(platform, cards.report_loss, actor=holder(person_id), card_no=card_no, kind="formal")
    for headers, path, body in ((me, "me/cases", {}), (outlet, "cases", {"card_no": card_no})):
        refused = client.post(f"{API}/{path}", json={"service_code": "employment_registration", **body}, headers=headers)
        problem = refused.json()
        assert refused.status_code == 409 and problem["code"] == "hr_card_refused"
        assert "正式挂失" in problem["title"] and "formally reported lost" in problem["title_en"]
        assert problem["details"]["reason"] == "formal_loss"


def test_only_the_hr_system_reads_the_card_account_whole_and_every_read_is_audited(platform, client, login, citizen):
    ssn, person_id, card_no = citizen
    with platform.uow() as uow:
        pan = cards.get_card(uow=uow, card_no=card_no).pan
    hr_system = login(Role.HR_OFFICER)
    body = {"person_id": person_id, "purpose": "失业保险金发放账户核对"}
    for role in (Role.HOLDER, Role.SS_OUTLET, Role.ADMIN, Role.BANK, Role.PAYING_OFFICE):
        other = login(role, person_id=person_id) if role == Role.HOLDER else login(role)
        assert client.post(f"{API}/card-accounts", json=body, headers=other).status_code == 403, role
    read = client.post(f"{API}/card-accounts", json=body, headers=hr_system)
    assert read.status_code == 200, read.text
    assert read.json() == {"person_id": person_id, "card_no": card_no, "bank_code": "ICBC", "pan": pan,
                           "financial_status": "active", "card_state": "in_use"}
    by_id = client.post(f"{API}/card-accounts", json={"id_number": ssn, "purpose": "代发核对"}, headers=hr_system)
    assert by_id.json()["pan"] == pan
    assert client.post(f"{API}/card-accounts", json={"person_id": person_id, "purpose": ""},
                       headers=hr_system).status_code == 422
    with platform.uow() as uow:
        records = list(uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "hr_card_account", AuditRecord.entity_id == str(person_id))
            .order_by(AuditRecord.seq)).scalars())
    assert [r.action for r in records] == ["hr.card_account_read", "hr.card_account_read"]
    assert records[0].reason == "失业保险金发放账户核对" and records[0].after["account"] == mask_pan(pan)
    assert pan not in str(records[0].after) and ssn not in str(records[1].after)
    # nowhere else is the number whole: the case answers carry none
    me = login(Role.HOLDER, person_id=person_id)
    opened = client.post(f"{API}/me/cases", json={"service_code": "employment_registration"}, headers=me)
    assert pan not in opened.text
