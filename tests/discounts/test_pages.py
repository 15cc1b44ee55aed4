"""The discounts pages through the ASGI app, as a browser: the sponsor creates a campaign and
enrols a merchant, the merchant's till redeems and refunds, the sponsor's page shows the figures
and the chart and states a month; the holder claims a voucher on "my vouchers"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.discounts.conftest import card_holder, voucher_campaign
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def test_sponsor_and_merchant_pages_from_campaign_to_statement(platform, clock, signed_in):  # noqa: F811
    _, card = card_holder(platform)
    sponsor = signed_in(Role.CAMPAIGN_SPONSOR, branch_code="CZ-HRSS")
    token = form_token(sponsor, "/sponsor/campaigns")
    created = sponsor.post("/sponsor/campaigns", follow_redirects=False, data={
        "csrf_token": token, "code": "PG-MJ", "kind": "spend_reduction", "name_zh": "页面满减",
        "name_en": "page reduction", "budget_yuan": "100", "starts_on": "2026-03-01",
        "ends_on": "2026-03-31", "threshold_yuan": "100", "reduction_yuan": "10", "region": "3204"})
    assert created.status_code == 303, created.text
    enrolled = sponsor.post("/sponsor/campaigns/PG-MJ/merchants", follow_redirects=False,
                            data={"csrf_token": token, "merchant_code": "M-CZ-0001"})
    assert enrolled.status_code == 303, enrolled.text

    till = signed_in(Role.MERCHANT, branch_code="M-CZ-0001")
    till_token = form_token(till, "/merchant/discounts")
    redeemed = till.post("/merchant/discounts/redeem", data={
        "csrf_token": till_token, "campaign_code": "PG-MJ", "card_no": card.card_no,
        "order_yuan": "150", "order_ref": "POS-9", "idempotency_key": "page-1"})
    assert redeemed.status_code == 200 and 'id="pay"' in redeemed.text, redeemed.text
    assert "140.00" in redeemed.text
    below = till.post("/merchant/discounts/redeem", data={
        "csrf_token": till_token, "campaign_code": "PG-MJ", "card_no": card.card_no,
        "order_yuan": "50", "idempotency_key": "page-2"})
    assert below.status_code == 409 and "满减门槛" in below.text

    page = sponsor.get("/sponsor/campaigns/PG-MJ")
    assert page.status_code == 200 and "<svg" in page.text and "90.00" in page.text  # left
    clock.advance(timedelta(days=31))  # April: the sessions have lapsed, sign in again
    sponsor = signed_in(Role.CAMPAIGN_SPONSOR, branch_code="CZ-HRSS")
    till = signed_in(Role.MERCHANT, branch_code="M-CZ-0001")
    token = form_token(sponsor, "/sponsor/campaigns")
    stated = sponsor.post("/sponsor/campaigns/PG-MJ/settlements", follow_redirects=False,
                          data={"csrf_token": token, "period": "2026-03"})
    assert stated.status_code == 303, stated.text
    assert "M-CZ-0001" in sponsor.get("/sponsor/campaigns/PG-MJ").text
    assert "10.00" in till.get("/merchant/discounts").text


def test_holder_claims_a_voucher_on_the_page(platform, signed_in):  # noqa: F811
    person, _ = card_holder(platform)
    voucher_campaign(platform)
    me = signed_in(Role.HOLDER, person_id=person)
    page = me.get("/me/vouchers")
    assert page.status_code == 200 and 'id="offer-TOUR1"' in page.text
    token = form_token(me, "/me/vouchers")
    claimed = me.post("/me/vouchers", follow_redirects=False,
                      data={"csrf_token": token, "campaign_code": "TOUR1", "idempotency_key": "k"})
    assert claimed.status_code == 303, claimed.text
    assert 'id="voucher-V' in me.get("/me/vouchers").text
