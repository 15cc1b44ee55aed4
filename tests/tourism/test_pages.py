"""The tourism pages through the ASGI app, as a browser: the holder buys a pass on
/me/tickets (the confirmation box required), activates it, a day ticket is refunded; venue
staff see their venue's day on /venue, check a card at the desk (a wallet sale is recorded by
the venue terminal through the gates API, which checks the purchase's TAC), refund a ticket; another operator's staff do not see the venue."""

from __future__ import annotations

import re

import pytest

from tests.bills.conftest import balance, payer
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from tests.tourism.conftest import load_venues
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def test_the_holder_buys_activates_and_refunds_on_the_page(bank_platform, bank, signed_in):  # noqa: F811
    load_venues(bank_platform)
    _, person_id, card = payer(bank_platform, bank)
    browser = signed_in(Role.HOLDER, person_id=person_id)
    page = browser.get("/me/tickets")
    assert page.status_code == 200 and "CZ-PASS-228" in page.text, page.text
    token = form_token(browser, "/me/tickets")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    unconfirmed = browser.post("/me/tickets/buy", data={"csrf_token": token, "product_code": "CZ-PASS-228",
                                                        "idempotency_key": key})
    assert unconfirmed.status_code == 422 and "tourism_confirmation_required" in unconfirmed.text
    bought = browser.post("/me/tickets/buy", follow_redirects=False, data={
        "csrf_token": token, "product_code": "CZ-PASS-228", "idempotency_key": key, "confirm": "yes"})
    assert bought.status_code == 303, bought.text
    assert balance(bank, card) == 500_000 - 22_800
    pass_no = bought.headers["location"].split("#ticket-")[1]
    activated = browser.post(f"/me/tickets/{pass_no}/activate", data={"csrf_token": token}, follow_redirects=False)
    assert activated.status_code == 303
    page = browser.get("/me/tickets")
    assert "2027" in page.text  # valid one year from today
    day = browser.post("/me/tickets/buy", follow_redirects=False, data={
        "csrf_token": token, "product_code": "YANC-DAY", "day": "2026-03-03", "idempotency_key": "d1",
        "confirm": "yes"})
    ticket_no = day.headers["location"].split("#ticket-")[1]
    refunded = browser.post(f"/me/tickets/{ticket_no}/refund", data={"csrf_token": token, "reason": "雨天"},
                            follow_redirects=False)
    assert refunded.status_code == 303 and balance(bank, card) == 500_000 - 22_800


def test_venue_staff_check_sell_and_refund_at_the_desk(bank_platform, bank, signed_in):  # noqa: F811
    load_venues(bank_platform)
    _, person_id, card = payer(bank_platform, bank)
    staff = signed_in(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    page = staff.get("/venue")
    assert page.status_code == 200 and "DINO" in page.text and "YANC" not in page.text, page.text
    token = form_token(staff, "/venue")
    refused = staff.post("/venue/admit", data={"csrf_token": token, "venue": "DINO", "card_no": card.card_no})
    assert refused.status_code == 200 and "no_entitlement" not in refused.text and 'class="refused"' in refused.text
    holder = signed_in(Role.HOLDER, person_id=person_id)
    sold = holder.post("/me/tickets/buy", follow_redirects=False, data={
        "csrf_token": form_token(holder, "/me/tickets"), "product_code": "DINO-DAY", "slot": "09:00-12:00",
        "idempotency_key": "desk-1", "confirm": "yes"})
    assert sold.status_code == 303, sold.text
    assert staff.post("/venue/sales", data={"csrf_token": token}).status_code in (403, 404, 405)
    admitted = staff.post("/venue/admit", data={"csrf_token": token, "venue": "DINO", "card_no": card.card_no})
    assert 'class="ok"' in admitted.text
    page = staff.get("/venue?venue=DINO")
    assert "260.00" in page.text and "…" + card.card_no[-4:] in page.text
    assert "退回电子钱包" in page.text  # the day's wallet refunds (none here) have their row
    statement = page.text.split('id="statement"')[1].split("</section>")[0]
    assert "本月结算单" in statement and "联票/年卡分账" in statement and "260.00" in statement
    other = signed_in(Role.VENUE_OPERATOR, branch_code="CZ-TMH")
    assert "<code>DINO</code>" not in other.get("/venue?venue=DINO").text
