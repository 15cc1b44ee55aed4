"""Discount campaigns in a real browser: the merchant's till redeems a 满减 before charging the
card and sees what to charge; the sponsor's campaign page shows the budget spent and the chart;
the holder claims a tourism voucher on "my vouchers". Figures are the discounts service's own."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.auth.service import create_user
from yikatong.cards.service import current_card_for
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.demo.population import PASSWORD
from yikatong.discounts import service
from yikatong.pages.formatting import money

ADMIN = Actor(user_id="browser-admin", role=Role.ADMIN, channel=Channel.SYSTEM)


def _login(platform, username: str, role: Role, branch_code: str) -> str:
    with platform.uow() as uow:
        create_user(uow=uow, actor=ADMIN, username=username, password=PASSWORD, role=role,
                    branch_code=branch_code)
        uow.commit()
    return username


def test_till_redeems_sponsor_sees_the_chart_holder_claims_a_voucher(page, live_server, locale):
    platform, population = live_server.platform, live_server.population
    person_id = population.person_ids["holder"]
    code, tour = f"BR-MJ-{locale}".upper()[:32], f"BR-TOUR-{locale}".upper()[:32]
    with platform.uow() as uow:
        today = local_date(uow.now())
        card_no = current_card_for(uow=uow, person_id=person_id).card_no
        service.create_campaign(uow=uow, actor=ADMIN, code=code, kind="spend_reduction",
                                name_zh="浏览器满减", name_en="Browser reduction", budget_fen=100_000,
                                starts_on=today, ends_on=today + timedelta(days=30),
                                rule={"tiers": [[10_000, 1_000]]}, sponsor_code="CZ-HRSS")
        service.enrol_merchant(uow=uow, actor=ADMIN, code=code, merchant_code="M-CZ-0001")
        service.create_campaign(uow=uow, actor=ADMIN, code=tour, kind="tourism_voucher",
                                name_zh="浏览器旅游券", name_en="Browser voucher", budget_fen=10_000,
                                starts_on=today, ends_on=today + timedelta(days=30),
                                rule={"face_fen": 2_000}, holder_limit_count=1, sponsor_code="CZ-HRSS")
    merchant = _login(platform, f"br-merchant-{locale}", Role.MERCHANT, "M-CZ-0001")
    sponsor = _login(platform, f"br-sponsor-{locale}", Role.CAMPAIGN_SPONSOR, "CZ-HRSS")

    sign_in(page, merchant)
    page.goto("/merchant/discounts")
    page.locator("#campaign_code").select_option(code)
    page.locator("#card_no").fill(card_no)
    page.locator("#order_yuan").fill("150")
    page.locator("#order_ref").fill(f"POS-{locale}")
    page.locator("#order_ref").press("Enter")
    expect(page.locator("#pay")).to_have_text(money(14_000))
    assert_accessible(page)
    screenshot(page, "discounts-till")
    with platform.uow(read_only=True) as uow:
        assert service.campaign(uow=uow, actor=ADMIN, code=code).spent_fen == 1_000
    page.context.clear_cookies()

    sign_in(page, sponsor)
    page.goto(f"/sponsor/campaigns/{code}")
    expect(page.locator("#spent")).to_have_text(money(1_000))
    expect(page.locator("figure.chart svg")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "discounts-sponsor")
    page.context.clear_cookies()

    sign_in(page, population.usernames["holder"])
    page.goto("/me/vouchers")
    page.locator(f"#offer-{tour} button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/me/vouchers"))
    expect(page.locator("#mine")).to_contain_text(money(2_000))
    assert_accessible(page)
    screenshot(page, "discounts-vouchers")
    with platform.uow(read_only=True) as uow:
        mine = service.vouchers_of(uow=uow, actor=ADMIN, person_id=person_id)
    assert [v.campaign_code for v in mine if v.campaign_code == tour] == [tour]
