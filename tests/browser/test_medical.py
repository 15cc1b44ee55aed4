"""Medical insurance in a real browser: a holder sees a settled visit with what the fund, the
personal account and they paid; a designated institution's staff see the institution's day
with its totals and print a settlement slip. The figures are the visit service's own."""

from __future__ import annotations

import re

import pytest

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.core.actor import Actor, Channel, Role
from yikatong.medical import service, visits
from yikatong.pages.formatting import money


def test_a_holder_sees_a_settled_visit(page, live_server):
    population = live_server.population
    setl_id = population.setl_ids["hospital"]
    sign_in(page, population.usernames["holder"])
    page.get_by_role("link", name=re.compile("^(医疗保险|Medical insurance)$")).click()
    expect(page).to_have_url(re.compile(r"/me/medical$"))
    holder = Actor(user_id="browser", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                   person_id=population.person_ids["holder"])
    with live_server.platform.uow(read_only=True) as uow:
        settlement = visits.get_settlement(uow=uow, actor=holder, setl_id=setl_id)
        balance = service.account_balance(uow=uow, person_id=holder.person_id)
    row = page.locator(f"#setl-{setl_id}")
    info = settlement.setlinfo
    expect(row.locator("dd.fund")).to_have_text(money(info["fund_pay_sumamt"]))
    expect(row.locator("dd.account")).to_have_text(money(info["acct_pay"]))
    expect(row.locator("dd.cash")).to_have_text(money(info["psn_cash_pay"]))
    expect(page.locator("#account-balance")).to_have_text(money(balance))
    assert_accessible(page)
    screenshot(page, "medical-holder")


@pytest.mark.viewport("desk")
def test_an_institutions_staff_sees_its_day_and_a_slip(page, live_server):
    population = live_server.population
    sign_in(page, population.usernames[str(Role.MEDICAL_INSTITUTION)])
    expect(page).to_have_url(re.compile(r"/medical/institution$"))
    staff = Actor(user_id="browser", role=Role.MEDICAL_INSTITUTION, channel=Channel.HOSPITAL,
                  branch_code="H32040200001")
    with live_server.platform.uow(read_only=True) as uow:
        day = service.institution_day(uow=uow, actor=staff, day=service.today(uow))
    assert day.totals.settled > 0
    totals = page.locator("#day-totals")
    expect(totals.locator('dd[data-key="settled"]')).to_have_text(str(day.totals.settled))
    expect(totals.locator('dd[data-key="fund"]')).to_have_text(money(day.totals.fund))
    expect(totals.locator('dd[data-key="cash"]')).to_have_text(money(day.totals.cash))
    expect(page.locator("#t-settlements tbody tr")).to_have_count(len(day.settlements))
    assert population.setl_ids["pharmacy"] not in page.content()  # another institution's
    assert_accessible(page)
    screenshot(page, "medical-institution-day")
    setl_id = population.setl_ids["hospital"]
    page.get_by_role("link", name=setl_id).click()
    expect(page).to_have_url(re.compile(rf"/medical/institution/settlements/{setl_id}$"))
    settlement = next(s for s in day.settlements if s.setl_id == setl_id)
    for name in ("medfee_sumamt", "hifp_pay", "fund_pay_sumamt", "acct_pay", "psn_cash_pay", "balc"):
        expect(page.locator(f'#t-setlinfo tr[data-key="{name}"] td')).to_have_text(
            money(settlement.setlinfo[name]))
    assert_accessible(page)
    screenshot(page, "medical-slip")


@pytest.mark.viewport("desk")
def test_the_medical_office_finds_a_person_masked_and_sees_the_funds_day(page, live_server):
    population = live_server.population
    person_id = population.person_ids["holder"]
    with live_server.platform.uow(read_only=True) as uow:
        psn_no = service.psn_no_of(uow=uow, person_id=person_id)
        rows = service.fund_day(uow=uow, day=service.today(uow))
    sign_in(page, population.usernames[str(Role.MEDICAL_OFFICE)])
    expect(page).to_have_url(re.compile(r"/medical/office/people$"))
    page.locator("#f-q").fill(psn_no)
    page.locator("#f-q").press("Enter")
    expect(page).to_have_url(re.compile(rf"/medical/office/people/{person_id}$"))
    expect(page.locator("#ssn")).to_contain_text("********")  # masked until a reason is given
    expect(page.locator("#t-settlements tbody tr")).to_have_count(3)
    assert_accessible(page)
    screenshot(page, "medical-office-person")
    page.get_by_role("link", name=re.compile("基金当日结算|The fund's day")).click()
    expect(page).to_have_url(re.compile(r"/medical/office/day$"))
    total = service.DayTotals.of(rows)
    expect(page.locator("#t-fund-day tbody tr")).to_have_count(len(rows))
    expect(page.locator('#t-fund-day tfoot tr[data-key="total"] td').nth(3)).to_have_text(money(total.fund))
    assert_accessible(page)
    screenshot(page, "medical-fund-day")
