"""Tourism in a real browser: the holder buys the city tourism pass on /me/tickets with the
confirmation box and sees it among their tickets and passes; venue staff sign in, see their
venue's day on /venue and check the holder's card at the desk (the pass lets them in once a
day); the entry and the money are the tourism service's own."""

from __future__ import annotations

import re

from tests.banking.helpers import at_bank, teller
from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.auth import service as auth
from yikatong.banking import payments
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards.service import current_card_for
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.tourism import service

ADMIN = Actor(user_id="browser-admin", role=Role.ADMIN, channel=Channel.SYSTEM)
STAFF_PASSWORD = "Venue-desk-2026!"


def _venue_login(platform) -> str:
    """A venue-desk login of 中华恐龙园's operator, with a password (once per server)."""
    from sqlalchemy import select

    from yikatong.auth.models import User

    with platform.uow() as uow:
        if uow.session.execute(select(User.id).where(User.username == "browser-venue")).first() is None:
            auth.create_user(uow=uow, actor=ADMIN, username="browser-venue", password=STAFF_PASSWORD,
                             role=Role.VENUE_OPERATOR, branch_code="CZ-DINO")
            uow.commit()
    return "browser-venue"


def test_the_holder_buys_a_pass_and_the_venue_desk_lets_the_card_in(page, live_server, locale):
    platform, population = live_server.platform, live_server.population
    holder = Actor(user_id="browser", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                   person_id=population.person_ids["holder"])
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=ADMIN)
        uow.commit()
        card = current_card_for(uow=uow, person_id=holder.person_id)
        today = local_date(uow.now())
    bank = platform.get(ReferenceBank)
    at_bank(bank, payments.deposit, actor=teller(card.bank_code), bank_code=card.bank_code, pan=card.pan,
            amount_fen=22_800, request_id=f"browser-tourism-{locale}")

    sign_in(page, population.usernames["holder"])
    page.goto("/me/tickets")
    form = page.locator("#buy-form")
    form.locator("select[name=product_code]").select_option("CZ-PASS-228")
    assert_accessible(page)
    form.locator("button[type=submit]").click()  # the box is required: nothing is sent without it
    expect(page).to_have_url(re.compile(r"/me/tickets$"))
    form.locator("input[name=confirm]").check()
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/me/tickets#ticket-NK\d+$"))
    ticket_no = page.url.rsplit("#ticket-", 1)[1]
    row = page.locator(f"#ticket-{ticket_no}")
    expect(row).to_contain_text("228.00")
    with platform.uow(read_only=True) as uow:
        bought = service.get_ticket(uow=uow, actor=holder, ticket_no=ticket_no)
    assert bought.paid_fen == 22_800 and bought.payment == "bank"
    assert_accessible(page)
    screenshot(page, "tourism-holder")

    page.goto("/signin")
    page.context.clear_cookies()
    sign_in(page, _venue_login(platform), STAFF_PASSWORD)
    page.goto("/venue?venue=DINO")
    expect(page.locator("h1")).to_contain_text("DINO")
    page.locator("#a-card").fill(card.card_no)
    page.locator("#admit-form button[type=submit]").click()
    expect(page.locator("#decision")).to_be_visible()
    with platform.uow(read_only=True) as uow:
        entries = service.venue_entries(uow=uow, actor=ADMIN, venue_code="DINO", day=today)
    assert any(e.presented == "card" and e.card_tail == card.card_no[-4:] for e in entries)
    assert_accessible(page)
    screenshot(page, "tourism-venue")
