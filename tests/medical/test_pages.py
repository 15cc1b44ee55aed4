"""The medical pages through the ASGI app: the holder's insurance, the institution's day and
slip (its own only), the office's lookup (masked until a reason), enrolment and retirement,
and the fund's day. Figures are compared with what medical.service says, not copied."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.medical.conftest import (
    EMPLOYER,
    HOSPITAL,
    OFFICE,
    OTHER_HOSPITAL,
    TODAY,
    insured,
    registered,
)
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.core.actor import Role
from yikatong.core.masking import mask_ssn
from yikatong.medical import service
from yikatong.pages.formatting import money

pytestmark = pytest.mark.db


@pytest.fixture
def medical(platform):
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=OFFICE)
    return platform


def test_the_holder_sees_the_enrolment_in_words_and_the_account_with_its_credits(medical, signed_in):  # noqa: F811
    _, person_id, _ = insured(medical, credit=123_456)
    page = signed_in(Role.HOLDER, person_id=person_id).get("/me/medical")
    assert page.status_code == 200, page.text
    assert "职工基本医疗保险" in page.text and "在职" in page.text and "320402" in page.text
    with medical.uow() as uow:
        balance = service.account_balance(uow=uow, person_id=person_id)
        psn_no = service.psn_no_of(uow=uow, person_id=person_id)
    assert re.search(rf'id="account-balance">{re.escape(money(balance))}<', page.text)
    assert psn_no in page.text and "¥1,234.56" in page.text  # the credit's line
    assert "2026年01月01日" in page.text  # the period's start


def test_a_holder_never_enrolled_is_told_who_enrols_them(medical, signed_in):  # noqa: F811
    _, person_id = registered(medical)
    page = signed_in(Role.HOLDER, person_id=person_id).get("/me/medical")
    assert page.status_code == 200 and "12393" in page.text


def test_the_institutions_day_is_its_own_and_empty_without_visits(medical, signed_in):  # noqa: F811
    client = signed_in(Role.MEDICAL_INSTITUTION, branch_code=HOSPITAL)
    page = client.get("/medical/institution")
    assert page.status_code == 200, page.text
    assert HOSPITAL in page.text and "2026年03月02日" in page.text
    assert client.get("/medical/institution?day=2026-13-01").status_code == 422
    assert client.get("/medical/institution/settlements/NOPE").status_code == 404


def test_a_staff_login_without_an_institution_is_refused(medical, signed_in):  # noqa: F811
    page = signed_in(Role.MEDICAL_INSTITUTION).get("/medical/institution")
    assert page.status_code == 403 and "medical_not_an_institution" in page.text


def office_find(client, number: str):
    return client.post("/medical/office/people", data={
        "csrf_token": form_token(client, "/medical/office/people"), "q": number},
        follow_redirects=False)


def test_the_office_finds_a_person_masked_and_sees_the_whole_id_only_with_a_reason(medical, signed_in):  # noqa: F811
    ssn, person_id, _ = insured(medical)
    client = signed_in(Role.MEDICAL_OFFICE)
    found = office_find(client, ssn)
    assert found.status_code == 303 and found.headers["location"] == f"/medical/office/people/{person_id}"
    page = client.get(found.headers["location"])
    assert mask_ssn(ssn) in page.text and ssn not in page.text
    with medical.uow() as uow:
        psn_no = service.psn_no_of(uow=uow, person_id=person_id)
    assert office_find(client, psn_no).headers["location"] == f"/medical/office/people/{person_id}"
    path = f"/medical/office/people/{person_id}/disclosures"
    refused = client.post(path, data={"csrf_token": form_token(client, found.headers["location"]),
                                      "reason_code": "holder_present", "note": ""})
    assert refused.status_code == 422 and ssn not in refused.text
    shown = client.post(path, data={"csrf_token": form_token(client, found.headers["location"]),
                                    "reason_code": "holder_present", "note": "身份证已核验"})
    assert shown.status_code == 200 and f'id="ssn">{ssn}<' in shown.text
    from sqlalchemy import select

    from yikatong.audit.models import AuditRecord
    with medical.uow() as uow:
        actions = uow.session.execute(select(AuditRecord.action).where(
            AuditRecord.entity_id == str(person_id))).scalars().all()
    assert "person.disclose" in actions
    assert office_find(client, "320402199901011234").status_code == 404


def test_the_office_enrols_a_person_and_records_the_retirement(medical, signed_in):  # noqa: F811
    _, person_id = registered(medical)
    client = signed_in(Role.MEDICAL_OFFICE)
    path = f"/medical/office/people/{person_id}"
    form = {"scheme": "310", "insured_admdvs": "320402", "employer_uscc": "",
            "employer_name": "", "start_date": "2026-01-01"}
    refused = client.post(path + "/enrolments", data={"csrf_token": form_token(client, path), **form})
    assert refused.status_code == 422 and "medical_invalid_enrolment" in refused.text
    with medical.uow() as uow:
        assert service.enrolments(uow=uow, person_id=person_id) == []
    form["employer_uscc"] = EMPLOYER
    done = client.post(path + "/enrolments", data={"csrf_token": form_token(client, path), **form},
                       follow_redirects=False)
    assert done.status_code == 303
    retired = client.post(path + "/retirement", data={"csrf_token": form_token(client, path),
                                                      "retire_on": "2026-03-01"}, follow_redirects=False)
    assert retired.status_code == 303
    with medical.uow() as uow:
        periods = service.enrolments(uow=uow, person_id=person_id)
    assert [(p.start_date, p.end_date, p.retired) for p in periods] == [
        (date(2026, 1, 1), date(2026, 2, 28), False), (date(2026, 3, 1), None, True)]
    page = client.get(path)
    assert "退休" in page.text and "记录退休" not in page.text  # no second retirement offered


def test_the_fund_day_is_empty_on_a_day_without_settlements(medical, signed_in):  # noqa: F811
    page = signed_in(Role.MEDICAL_OFFICE).get("/medical/office/day?day=2026-03-02")
    assert page.status_code == 200 and "2026年03月02日" in page.text
    assert TODAY.isoformat() in page.text and OTHER_HOSPITAL not in page.text
