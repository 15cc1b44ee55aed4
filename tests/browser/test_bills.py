"""Bills in a real browser: the holder pays a bill from /me/bills with the confirmation box and
sees the receipt; the amount and the bank's balance after are the bills service's own."""

from __future__ import annotations

import re

from tests.banking.helpers import at_bank, teller
from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.banking import payments
from yikatong.banking.runtime import ReferenceBank
from yikatong.bills import service
from yikatong.cards.service import current_card_for
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.pages.formatting import money


def _holder(population) -> Actor:
    return Actor(user_id="browser", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=population.person_ids["holder"])


def test_the_holder_pays_a_bill_with_the_box_and_sees_the_receipt(page, live_server, locale):
    platform, population = live_server.platform, live_server.population
    holder = _holder(population)
    bank = platform.get(ReferenceBank)
    with platform.uow() as uow:
        card = current_card_for(uow=uow, person_id=holder.person_id)
        pan, bank_code = card.pan, card.bank_code
        # one year's bill a run (a year's contribution is declared once): this year, then next
        year = local_date(uow.now()).year + (locale == "en")
        bill = service.declare_resident(uow=uow, actor=holder, person_id=holder.person_id,
                                        kind="resident_pension", year=year, grade_fen=30_000)
    at_bank(bank, payments.deposit, actor=teller(bank_code), bank_code=bank_code, pan=pan,
            amount_fen=bill.amount_fen, request_id=f"browser-bill-{bill.id}")
    with bank.uow() as uow:
        before = payments.balance(uow, payments.account_by_pan(uow, bank_code, pan))

    sign_in(page, population.usernames["holder"])
    page.goto("/me/bills")
    row = page.locator(f"#bill-{bill.id}")
    expect(row).to_contain_text(money(bill.amount_fen))
    assert_accessible(page)
    screenshot(page, "bills-holder")
    pay = row.locator("button[type=submit]")
    pay.click()  # the box is required: the browser does not send the form without it
    expect(page).to_have_url(re.compile(r"/me/bills"))
    with platform.uow(read_only=True) as uow:
        assert service.get_bill(uow=uow, actor=holder, bill_id=bill.id).status != "paid"
    row.locator("input[name=confirm]").check()
    pay.click()
    expect(page).to_have_url(re.compile(r"/me/bills/receipts/[^/?]+$"))
    receipt_no = page.url.rsplit("/", 1)[-1]
    with platform.uow(read_only=True) as uow:
        receipt = service.get_receipt(uow=uow, actor=holder, receipt_no=receipt_no)
        paid = service.get_bill(uow=uow, actor=holder, bill_id=bill.id)
    assert str(paid.status) == "paid" and receipt.amount_fen == bill.amount_fen
    expect(page.locator("#receipt dd.balance")).to_have_text(money(receipt.amount_fen))
    expect(page.locator("#receipt")).to_contain_text(receipt.account_masked)
    assert pan not in page.content()  # the account only masked
    with bank.uow() as uow:
        assert payments.balance(uow, payments.account_by_pan(uow, bank_code, pan)) == before - bill.amount_fen
    assert_accessible(page)
    screenshot(page, "bills-receipt")
