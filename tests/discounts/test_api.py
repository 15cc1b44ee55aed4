"""The discounts API through the ASGI app: a sponsor opens a campaign and enrols a merchant, the
till redeems with an Idempotency-Key (a retry answers the same), refunds, the sponsor reads the
report and the SVG chart; a holder claims a voucher; roles outside the table are refused."""

from __future__ import annotations

import pytest

from tests.discounts.conftest import card_holder
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/discounts"
CAMPAIGN = {"code": "API-MJ", "kind": "spend_reduction", "name_zh": "满减", "name_en": "reduction",
            "budget_fen": 5_000, "starts_on": "2026-03-01", "ends_on": "2026-04-30",
            "rule": {"tiers": [[10_000, 1_000], [20_000, 3_000]]}, "eligibility": {"regions": ["3204"]},
            "holder_limit_count": 5}


def test_a_campaign_from_opening_to_the_till_and_the_report(platform, client, login):
    _, card = card_holder(platform)
    sponsor = login(Role.CAMPAIGN_SPONSOR, branch_code="CZ-HRSS")
    till = login(Role.MERCHANT, branch_code="M-CZ-0001")
    created = client.post(f"{API}/campaigns", headers=sponsor, json=CAMPAIGN)
    assert created.status_code == 201, created.text
    assert created.json()["sponsor_code"] == "CZ-HRSS" and created.json()["left_fen"] == 5_000
    enrolled = client.post(f"{API}/campaigns/API-MJ/merchants", headers=sponsor,
                           json={"merchant_code": "M-CZ-0001", "name_zh": "示范商户"})
    assert enrolled.json()["merchants"] == ["M-CZ-0001"]
    order = {"campaign_code": "API-MJ", "card_no": card.card_no, "order_fen": 25_000, "order_ref": "POS-1"}
    first = client.post(f"{API}/redemptions", headers={**till, "Idempotency-Key": "pos-1"}, json=order)
    retry = client.post(f"{API}/redemptions", headers={**till, "Idempotency-Key": "pos-1"}, json=order)
    assert first.status_code == retry.status_code == 201, first.text
    assert (first.json()["discount_fen"], first.json()["pay_fen"]) == (3_000, 22_000)
    assert retry.json()["id"] == first.json()["id"] and retry.json()["replayed"]
    again = client.post(f"{API}/redemptions", headers={**till, "Idempotency-Key": "pos-2"},
                        json={**order, "order_ref": "POS-2"})
    assert again.status_code == 409 and again.json()["code"] == "campaign_budget_exhausted"
    assert "预算" in again.json()["title"] and again.json()["title_en"]
    refunded = client.post(f"{API}/redemptions/{first.json()['id']}/refund", headers=till, json={"reason": "退货"})
    assert refunded.json()["status"] == "reversed"
    report = client.get(f"{API}/campaigns/API-MJ/report", headers=sponsor).json()
    assert (report["spent_fen"], report["reversed"], report["reversed_fen"]) == (0, 1, 3_000)
    chart = client.get(f"{API}/campaigns/API-MJ/chart.svg", headers=sponsor)
    assert chart.headers["content-type"].startswith("image/svg+xml") and "<svg" in chart.text
    assert [r["id"] for r in client.get(f"{API}/redemptions", headers=till).json()] == [first.json()["id"]]


def test_holder_claims_a_voucher_and_others_are_refused(platform, client, login):
    person, _ = card_holder(platform)
    sponsor = login(Role.CAMPAIGN_SPONSOR, branch_code="CZ-HRSS")
    client.post(f"{API}/campaigns", headers=sponsor, json={
        "code": "API-TOUR", "kind": "tourism_voucher", "name_zh": "旅游券", "name_en": "voucher",
        "budget_fen": 9_000, "starts_on": "2026-03-01", "ends_on": "2026-04-30",
        "rule": {"face_fen": 3_000, "valid_days": 10}, "holder_limit_count": 1})
    me = login(Role.HOLDER, person_id=person)
    claimed = client.post(f"{API}/me/vouchers", headers={**me, "Idempotency-Key": "c1"},
                          json={"campaign_code": "API-TOUR"})
    assert claimed.status_code == 201, claimed.text
    assert [v["code"] for v in client.get(f"{API}/me/vouchers", headers=me).json()] == [claimed.json()["code"]]
    other_sponsor = login(Role.CAMPAIGN_SPONSOR, branch_code="ICBC-CZ")
    assert client.get(f"{API}/campaigns/API-TOUR/report", headers=other_sponsor).status_code == 404
    assert client.post(f"{API}/redemptions", headers={**me, "Idempotency-Key": "x"}, json={
        "campaign_code": "API-TOUR", "card_no": "1", "order_fen": 1}).status_code == 403
