"""The bills pages through the ASGI app, as a browser: the holder's /me/bills (declare, pay
with the confirmation box, a receipt page, a mandate set up and revoked), a guardian not in
charge of someone sees nothing of theirs, and a utility's page with the refund."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.bills.conftest import WATER, act, balance, holder, payer
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.bills import service
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def test_the_holder_declares_and_pays_from_the_page_and_sees_the_receipt(bank_platform, bank, signed_in):  # noqa: F811
    _, person_id, card = payer(bank_platform, bank)
    browser = signed_in(Role.HOLDER, person_id=person_id)
    page = browser.get("/me/bills")
    assert page.status_code == 200, page.text
    assert "4,800.00" in page.text or "4800.00" in page.text  # the lowest base shown
    token = form_token(browser, "/me/bills")
    declared = browser.post("/me/bills/declare", data={"csrf_token": token, "what": "flexible",
                                                        "base_yuan": "5000", "months": "1"},
                            follow_redirects=False)
    assert declared.status_code == 303, declared.text
    page = browser.get("/me/bills")
    bill_id = int(re.search(r'id="bill-(\d+)"', page.text).group(1))
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    unconfirmed = browser.post(f"/me/bills/{bill_id}/pay", data={"csrf_token": token, "idempotency_key": key})
    assert unconfirmed.status_code == 422 and "bill_confirmation_required" in unconfirmed.text
    paid = browser.post(f"/me/bills/{bill_id}/pay", follow_redirects=False,
                        data={"csrf_token": token, "idempotency_key": key, "confirm": "yes"})
    assert paid.status_code == 303, paid.text
    again = browser.post(f"/me/bills/{bill_id}/pay", follow_redirects=False,
                         data={"csrf_token": token, "idempotency_key": key, "confirm": "yes"})
    assert again.headers["location"] == paid.headers["location"]  # the same receipt
    assert balance(bank, card) == 500_000 - 100_000
    receipt = browser.get(paid.headers["location"])
    assert receipt.status_code == 200 and "1,000.00" in receipt.text and card.pan not in receipt.text
    assert card.pan[-4:] in receipt.text


def test_a_refusal_is_shown_on_the_page_in_words_and_nothing_is_paid(bank_platform, bank, signed_in):  # noqa: F811
    _, person_id, card = payer(bank_platform, bank, money=100)
    bill = act(bank_platform, service.declare_resident, actor=holder(person_id), person_id=person_id, kind="resident_pension", year=2026, grade_fen=30_000)
    browser = signed_in(Role.HOLDER, person_id=person_id)
    token = form_token(browser, "/me/bills")
    answer = browser.post(f"/me/bills/{bill.id}/pay", data={"csrf_token": token, "idempotency_key": "x",
                                                             "confirm": "yes"})
    assert answer.status_code == 409 and "余额不足" in answer.text and "bill_insufficient_funds" in answer.text
    assert balance(bank, card) == 100


def test_a_mandate_is_set_up_and_revoked_on_the_page(bank_platform, bank, signed_in):  # noqa: F811
    _, person_id, _ = payer(bank_platform, bank)
    browser = signed_in(Role.HOLDER, person_id=person_id)
    token = form_token(browser, "/me/bills")
    made = browser.post("/me/bills/mandates", follow_redirects=False,
                        data={"csrf_token": token, "payee_code": "CZ-POWER", "limit_yuan": "300"})
    assert made.status_code == 303, made.text
    page = browser.get("/me/bills")
    mandate_id = int(re.search(r'id="mandate-(\d+)"', page.text).group(1))
    assert "300.00" in page.text
    revoked = browser.post(f"/me/bills/mandates/{mandate_id}/revoke", data={"csrf_token": token},
                           follow_redirects=False)
    assert revoked.status_code == 303
    with bank_platform.uow() as uow:
        assert not service.mandates_of(uow=uow, actor=holder(person_id), person_id=person_id)[0].active


def test_someone_elses_bills_are_not_shown(bank_platform, bank, signed_in):  # noqa: F811
    _, person_id, _ = payer(bank_platform, bank)
    _, stranger, _ = payer(bank_platform, bank)
    act(bank_platform, service.declare_resident, actor=holder(person_id), person_id=person_id, kind="resident_medical", year=2026)
    page = signed_in(Role.HOLDER, person_id=stranger).get(f"/me/bills?person_id={person_id}")
    assert page.status_code == 404 and "城乡居民基本医疗保险费" not in page.text


def test_the_utility_sees_its_receipts_and_refunds_one(bank_platform, bank, signed_in):  # noqa: F811
    ssn, person_id, card = payer(bank_platform, bank)
    bill = act(bank_platform, service.post_utility_bill, actor=WATER, id_number=ssn, account_ref="W-7",
               bill_no="W-page", period="2026-02", amount_fen=2_000, due_date=date(2026, 3, 9))
    receipt = act(bank_platform, service.pay_bill, actor=holder(person_id), bill_id=bill.id,
                  idempotency_key="p", confirmed=True)
    browser = signed_in(Role.BILLER, branch_code="CZ-WATER")
    page = browser.get("/payee/bills")
    assert page.status_code == 200 and receipt.receipt_no in page.text and ssn not in page.text
    token = form_token(browser, "/payee/bills")
    refunded = browser.post(f"/payee/bills/receipts/{receipt.receipt_no}/refund",
                            data={"csrf_token": token, "reason": "重复缴费"}, follow_redirects=False)
    assert refunded.status_code == 303, refunded.text
    assert balance(bank, card) == 500_000
    other = signed_in(Role.BILLER, branch_code="CZ-GAS").get("/payee/bills")
    assert receipt.receipt_no not in other.text


def test_a_guardian_chooses_the_child_and_declares_for_them(bank_platform, bank, signed_in):  # noqa: F811
    from tests.people.test_guardians import CHILD_BORN, OUTLET, person
    from yikatong.people import guardians

    _, parent, _ = payer(bank_platform, bank)
    child = person(bank_platform, CHILD_BORN.replace(year=2015), 34, name="周小星")
    with bank_platform.uow() as uow:
        guardians.link_guardian(uow=uow, actor=OUTLET, guardian_person_id=parent, child_person_id=child,
                                relation="parent", documents=("household_register",))
        uow.commit()
    browser = signed_in(Role.HOLDER, person_id=parent)
    page = browser.get("/me/bills")
    assert f'/me/bills?person_id={child}' in page.text and "周小星" in page.text
    token = form_token(browser, f"/me/bills?person_id={child}")
    declared = browser.post(f"/me/bills/declare?person_id={child}", follow_redirects=False,
                            data={"csrf_token": token, "what": "resident_medical", "year": "2026"})
    assert declared.status_code == 303 and declared.headers["location"].startswith(f"/me/bills?person_id={child}")
    with bank_platform.uow() as uow:
        assert [b.kind for b in service.bills_of(uow=uow, actor=holder(parent), person_id=child)] == [
            "resident_medical"]
        assert service.bills_of(uow=uow, actor=holder(parent), person_id=parent) == []


def test_the_exam_office_cancels_an_exam_on_its_page_and_the_fee_comes_back(bank_platform, bank, signed_in):  # noqa: F811
    from tests.bills.conftest import EXAM_OFFICE

    _, person_id, card = payer(bank_platform, bank)
    act(bank_platform, service.create_exam, actor=EXAM_OFFICE, code="PT-PAGE", name_zh="页面考试",
        name_en="Page exam", exam_date=date(2026, 8, 1), subjects=["A"])
    bill = act(bank_platform, service.register_exam, actor=holder(person_id), person_id=person_id,
               exam_code="PT-PAGE", subjects=["A"])
    receipt = act(bank_platform, service.pay_bill, actor=holder(person_id), bill_id=bill.id,
                  idempotency_key="page-exam", confirmed=True)
    office = signed_in(Role.HR_OFFICER)
    page = office.get("/payee/bills")
    assert page.status_code == 200 and 'id="exam-PT-PAGE"' in page.text and receipt.receipt_no in page.text
    token = form_token(office, "/payee/bills")
    refused = office.post("/payee/bills/exams/PT-PAGE/cancel", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and balance(bank, card) == 495_000
    done = office.post("/payee/bills/exams/PT-PAGE/cancel", follow_redirects=False,
                       data={"csrf_token": token, "reason": "考点调整"})
    assert done.status_code == 303 and balance(bank, card) == 500_000
    assert "已取消" in office.get("/payee/bills").text
