"""The medical pages through the ASGI app: the holder's insurance, the institution's day and
slip (its own only), the office's lookup (masked until a reason), enrolment and retirement,
and the fund's day. Figures are compared with what medical.service says, not copied."""

from __future__ import annotations

import itertools
import re
from datetime import date

import pytest

from tests.medical.conftest import (
    EMPLOYER,
    HOSPITAL,
    OFFICE,
    OTHER_HOSPITAL,
    TODAY,
    institution,
    insured,
    registered,
)
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.core.actor import Role
from yikatong.core.masking import mask_ssn
from yikatong.medical import service, visits
from yikatong.medical.visits import FeeInput
from yikatong.pages.formatting import money

pytestmark = pytest.mark.db

CONSULT = "001102000030000"                 # class B consultation, limit ¥35.00 (catalogue)
BLOOD_COUNT = "002101000010000"             # class A, limit ¥20.00
VITAMIN_C = "XA11GAV010A001010109999"       # class C


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


# --- with settled visits ---------------------------------------------------------------------

_msg = itertools.count(1)


def settled_visit(platform, ssn: str, *, code: str = HOSPITAL):
    """An outpatient visit at `code` through the visit service (2201, 2204, 2207), settled."""
    actor = institution(code)

    def call(operation, **kwargs):
        with platform.uow() as uow:
            return operation(uow=uow, actor=actor, **kwargs)

    visit = call(visits.register, msgid=f"pg{next(_msg):06d}", cert_type="02", cert_no=ssn)
    call(visits.upload_fees, msgid=f"pg{next(_msg):06d}", mdtrt_id=visit.mdtrt_id, lines=[
        FeeInput("1", CONSULT, 1, 4_000), FeeInput("2", BLOOD_COUNT, 1, 2_000),
        FeeInput("3", VITAMIN_C, 1, 1_500)])
    return call(visits.settle, msgid=f"pg{next(_msg):06d}", mdtrt_id=visit.mdtrt_id,
                cert_type="02", cert_no=ssn)


def cells(html: str, setl_id: str) -> str:
    row = re.search(rf'id="setl-{setl_id}"(.*?)</article>', html, re.S)
    assert row, f"no row for {setl_id}"
    return row.group(1)


def test_the_holder_sees_each_settlement_with_what_the_fund_the_account_and_they_paid(medical, signed_in):  # noqa: F811
    ssn, person_id, _ = insured(medical, credit=5_000)
    settlement = settled_visit(medical, ssn)
    client = signed_in(Role.HOLDER, person_id=person_id)
    page = client.get("/me/medical")
    row = cells(page.text, settlement.setl_id)
    info = settlement.setlinfo
    for name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay", "balc"):
        assert money(info[name]) in row, name
    assert "常州市第一人民医院" in row
    with medical.uow() as uow:
        totals = service.year_totals(uow=uow, person_id=person_id, year=TODAY.year)
    assert money(totals.outpatient_fund) in page.text and money(totals.medfee_total) in page.text
    slip = client.get(f"/me/medical/settlements/{settlement.setl_id}")
    assert slip.status_code == 200 and settlement.policy_version in slip.text
    other_ssn, _, _ = insured(medical, name="李四")
    other = settled_visit(medical, other_ssn)
    assert client.get(f"/me/medical/settlements/{other.setl_id}").status_code == 404
    assert other.setl_id not in client.get("/me/medical").text


def test_the_institution_sees_its_day_with_totals_and_a_slip_of_its_own_only(medical, signed_in):  # noqa: F811
    first_ssn, _, _ = insured(medical, credit=5_000)
    second_ssn, _, _ = insured(medical, credit=0, name="赵六")
    settled = [settled_visit(medical, first_ssn), settled_visit(medical, second_ssn)]
    elsewhere = settled_visit(medical, first_ssn, code=OTHER_HOSPITAL)
    client = signed_in(Role.MEDICAL_INSTITUTION, branch_code=HOSPITAL)
    page = client.get("/medical/institution")
    assert page.status_code == 200
    for s in settled:
        assert s.setl_id in page.text
    assert elsewhere.setl_id not in page.text
    totals = re.search(r'id="day-totals">(.*?)</dl>', page.text, re.S).group(1)
    assert f'data-key="settled">{len(settled)}<' in totals
    for key, name in (("medfee", "medfee_sumamt"), ("fund", "fund_pay_sumamt"), ("account", "acct_pay"),
                      ("cash", "psn_cash_pay")):
        assert f'data-key="{key}">{money(sum(s.setlinfo[name] for s in settled))}<' in totals, key
    slip = client.get(f"/medical/institution/settlements/{settled[0].setl_id}")
    assert slip.status_code == 200
    for name, value in settled[0].setlinfo.items():
        if name != "pool_prop_selfpay":
            assert re.search(rf'data-key="{name}">.*?{re.escape(money(value))}</td>', slip.text, re.S), name
    assert "基本医疗保险统筹基金支出" in slip.text and "个人现金支出" in slip.text
    assert client.get(f"/medical/institution/settlements/{elsewhere.setl_id}").status_code == 404


def test_the_fund_day_sums_every_institution(medical, signed_in):  # noqa: F811
    ssn, _, _ = insured(medical, credit=5_000)
    here, there = settled_visit(medical, ssn), settled_visit(medical, ssn, code=OTHER_HOSPITAL)
    page = signed_in(Role.MEDICAL_OFFICE).get("/medical/office/day")
    assert page.status_code == 200
    for s in (here, there):
        assert re.search(rf'data-key="{s.fixmedins_code}">.*?{re.escape(money(s.setlinfo["fund_pay_sumamt"]))}',
                         page.text, re.S)
    total = re.search(r'<tfoot><tr data-key="total">(.*?)</tr>', page.text, re.S).group(1)
    assert money(here.setlinfo["medfee_sumamt"] + there.setlinfo["medfee_sumamt"]) in total


def test_the_office_sees_a_persons_settlements(medical, signed_in):  # noqa: F811
    ssn, person_id, _ = insured(medical, credit=5_000)
    settled = settled_visit(medical, ssn)
    page = signed_in(Role.MEDICAL_OFFICE).get(f"/medical/office/people/{person_id}")
    row = re.search(rf'data-key="{settled.setl_id}">(.*?)</tr>', page.text, re.S).group(1)
    assert money(settled.setlinfo["fund_pay_sumamt"]) in row and money(settled.setlinfo["psn_cash_pay"]) in row


def test_a_person_number_out_of_range_or_unknown_is_refused_not_a_failure(medical, signed_in):  # noqa: F811
    client = signed_in(Role.MEDICAL_OFFICE)
    assert client.get(f"/medical/office/people/{2**70}").status_code == 422
    assert client.get("/medical/office/people/999999").status_code == 404


def test_the_holder_sees_a_cross_region_filing(medical, signed_in):  # noqa: F811
    from yikatong.medical import crossregion

    _, person_id, _ = insured(medical, credit=0)
    with medical.uow() as uow:
        crossregion.file(uow=uow, actor=OFFICE, request_id="page-filing-1", person_id=person_id,
                         filed_admdvs="310104", reason="long_term_residence", begin=TODAY)
        uow.commit()
    page = signed_in(Role.HOLDER, person_id=person_id).get("/me/medical")
    listed = re.search(r'id="cross-filings">(.*?)</ul>', page.text, re.S).group(1)
    assert "310104" in listed and "异地长期居住" in listed and "2026年03月02日" in listed
