"""The bills API through the ASGI app: the holder declares and pays (a double submit pays
once), a refusal is problem+json with code and both languages, a utility posts bills and reads
its receipts, the exam office cancels an exam and the fees come back."""

from __future__ import annotations

import pytest

from tests.bills.conftest import balance, payer
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/bills"


@pytest.fixture
def api_platform(bank_platform, client):
    return bank_platform


def test_the_holder_declares_pays_twice_with_one_key_and_gets_one_receipt(api_platform, bank, client, login):
    _, person_id, card = payer(api_platform, bank, money=2_000_000)
    me = login(Role.HOLDER, person_id=person_id)
    bill = client.post(f"{API}/me/flexible", headers=me, json={"base_fen": 600_000, "months": 12})
    assert bill.status_code == 201, bill.text
    assert bill.json()["amount_fen"] == 120_000 * 12 and bill.json()["period"] == "2026"
    body = {"idempotency_key": "double-click", "confirm": True}
    first = client.post(f"{API}/{bill.json()['id']}/pay", headers=me, json=body)
    second = client.post(f"{API}/{bill.json()['id']}/pay", headers=me, json=body)
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    assert balance(bank, card) == 2_000_000 - 1_440_000
    receipts = client.get(f"{API}/me/receipts", headers=me).json()
    assert [r["receipt_no"] for r in receipts] == [first.json()["receipt_no"]]
    assert client.get(f"{API}/receipts/{first.json()['receipt_no']}", headers=me).json()["status"] == "paid"


def test_a_refusal_is_a_4xx_problem_with_code_and_both_languages(api_platform, bank, client, login):
    _, person_id, card = payer(api_platform, bank, money=100)
    me = login(Role.HOLDER, person_id=person_id)
    bill = client.post(f"{API}/me/residents", headers=me, json={"kind": "resident_pension", "year": 2026,
                                                                   "grade_fen": 30_000}).json()
    answer = client.post(f"{API}/{bill['id']}/pay", headers=me, json={"idempotency_key": "k", "confirm": True})
    assert answer.status_code == 409
    problem = answer.json()
    assert problem["code"] == "bill_insufficient_funds" and "余额不足" in problem["title"]
    assert "Not enough money" in problem["title_en"]
    assert balance(bank, card) == 100
    assert client.get(f"{API}/me", headers=me).json()[0]["status"] == "due"
    unconfirmed = client.post(f"{API}/{bill['id']}/pay", headers=me, json={"idempotency_key": "k2"})
    assert unconfirmed.status_code == 422 and unconfirmed.json()["code"] == "bill_confirmation_required"
    out_of_range = client.post(f"{API}/me/flexible", headers=me, json={"base_fen": 100, "months": 1})
    assert out_of_range.status_code == 422 and out_of_range.json()["code"] == "contribution_base_out_of_range"


def test_a_utility_posts_a_bill_reads_its_receipt_and_refunds(api_platform, bank, client, login):
    ssn, person_id, card = payer(api_platform, bank)
    water = login(Role.BILLER, branch_code="CZ-WATER")
    gas = login(Role.BILLER, branch_code="CZ-GAS")
    me = login(Role.HOLDER, person_id=person_id)
    posted = client.post(f"{API}/payee/bills", headers=water, json={
        "id_number": ssn, "account_ref": "W-1", "bill_no": "W-2026-02-1", "period": "2026-02",
        "amount_fen": 3_350, "due_date": "2026-03-15"})
    assert posted.status_code == 201, posted.text
    assert client.post(f"{API}/payee/bills", headers=me, json={}).status_code == 403
    mandate = client.post(f"{API}/me/mandates", headers=me, json={"payee_code": "CZ-WATER", "limit_fen": 5_000})
    assert mandate.status_code == 201 and mandate.json()["active"] is True
    paid = client.post(f"{API}/{posted.json()['id']}/pay", headers=me,
                       json={"idempotency_key": "m", "mandate_id": mandate.json()["id"]})
    assert paid.status_code == 200, paid.text
    receipt_no = paid.json()["receipt_no"]
    assert [r["receipt_no"] for r in client.get(f"{API}/payee/receipts", headers=water).json()] == [receipt_no]
    assert client.get(f"{API}/payee/receipts", headers=gas).json() == []
    assert client.get(f"{API}/receipts/{receipt_no}", headers=gas).status_code == 404
    refunded = client.post(f"{API}/receipts/{receipt_no}/refund", headers=water, json={"reason": "duplicate"})
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    assert balance(bank, card) == 500_000
    revoked = client.post(f"{API}/mandates/{mandate.json()['id']}/revoke", headers=me)
    assert revoked.status_code == 200 and revoked.json()["active"] is False


def test_the_exam_office_cancels_an_exam_and_the_fee_comes_back(api_platform, bank, client, login):
    _, person_id, card = payer(api_platform, bank)
    office = login(Role.HR_OFFICER)
    me = login(Role.HOLDER, person_id=person_id)
    made = client.post(f"{API}/exams", headers=office, json={
        "code": "PT-API", "name_zh": "考试", "name_en": "Exam", "exam_date": "2026-06-01",
        "subjects": ["甲", "乙"]})
    assert made.status_code == 201, made.text
    assert client.post(f"{API}/exams", headers=me, json=made.json() | {"code": "X"}).status_code == 403
    bill = client.post(f"{API}/me/exams", headers=me, json={"exam_code": "PT-API", "subjects": ["甲", "乙"]}).json()
    assert bill["amount_fen"] == 10_000
    client.post(f"{API}/{bill['id']}/pay", headers=me, json={"idempotency_key": "e", "confirm": True})
    assert balance(bank, card) == 490_000
    cancelled = client.post(f"{API}/exams/PT-API/cancel", headers=office, json={"reason": "场地原因"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["exam"]["status"] == "cancelled" and len(cancelled.json()["refunded_receipts"]) == 1
    assert balance(bank, card) == 500_000
    assert client.get(f"{API}/me", headers=me).json()[0]["status"] == "refunded"
