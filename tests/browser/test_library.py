"""The library in a real browser: the holder opts in to the reader card on /me/library, a
librarian lends a book at the desk to the card number the holder presents, and the holder
sees the loan with its due date and renews it."""

from __future__ import annotations

import re

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.auth import service as auth
from yikatong.cards.service import current_card_for
from yikatong.core.actor import Actor, Role
from yikatong.demo.population import PASSWORD
from yikatong.library import service

ADMIN = Actor.system("browser-test")


def test_opt_in_lend_at_the_desk_and_renew(page, live_server, locale):
    platform, population = live_server.platform, live_server.population
    person_id = population.person_ids["holder"]
    barcode = "CZLIB-0003" if locale == "zh-CN" else "CZLIB-0005"
    librarian = f"browser-librarian-{locale}"
    with platform.uow() as uow:
        card_no = current_card_for(uow=uow, person_id=person_id).card_no
        auth.create_user(uow=uow, actor=ADMIN, username=librarian, password=PASSWORD,
                         role=Role.LIBRARIAN, branch_code="CZLIB")
        uow.commit()
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=ADMIN)  # the demo items (once)

    sign_in(page, population.usernames["holder"])
    page.goto("/me/library")
    if page.locator("#opt-in").count():
        page.locator("#opt-in").click()
    expect(page.locator("#reader-no")).to_have_text(re.compile(r"^CZR\d{9}$"))
    reader_no = page.locator("#reader-no").inner_text()
    page.context.clear_cookies()

    sign_in(page, librarian)
    page.goto("/library/desk")
    page.locator("#f-patron").fill(card_no)
    page.locator("#f-patron").press("Enter")
    expect(page.locator("#patron-found")).to_contain_text(reader_no)
    page.locator("#f-barcode").fill(barcode)
    page.locator("#f-barcode").press("Enter")
    expect(page.locator("#done")).to_contain_text(barcode)
    assert_accessible(page)
    screenshot(page, "library-desk")
    page.context.clear_cookies()

    sign_in(page, population.usernames["holder"])
    page.goto("/me/library")
    row = page.locator(f"#loan-{barcode}")
    expect(row).to_contain_text("0 / 1")
    row.locator("button[type=submit]").click()
    expect(page.locator(f"#loan-{barcode}")).to_contain_text("1 / 1")
    assert_accessible(page)
    screenshot(page, "library-my-loans")
    with platform.uow(read_only=True) as uow:
        loans = service.account(uow=uow, reader_no=reader_no, now=uow.now()).loans
    assert [loan.renewals for loan in loans if loan.item_barcode == barcode] == [1]
