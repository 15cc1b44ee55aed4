"""Benefits in a real browser, after a real disbursement run through the reference bank (the
paying office's payee list, the run, the bank's results, reconciliation, all through the
services): the holder sees the payment on /me/payments and confirms their pension on
/me/pension; the paying office sees the run's paid / held / failed figures and its chart.
Every figure checked is the service's own."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.benefits import certification, runs, service
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_date
from yikatong.demo.population import PASSWORD
from yikatong.pages.formatting import money
from yikatong.people.models import Person

OFFICE = Actor(user_id="browser-si", role=Role.PAYING_OFFICE, channel=Channel.AGENCY,
               branch_code="CZ-SI")
PROGRAMME, AMOUNT = "unemployment", 224_100


@dataclass(frozen=True)
class PaidRun:
    period: str
    office_login: str


@pytest.fixture(scope="module")
def paid_run(live_server) -> PaidRun:
    """Last month's unemployment run through the reference bank: the holder paid, a person
    whose card's financial function is not active held, a name that does not match failed.
    The holder is also a pensioner (their confirmation page has something to confirm)."""
    from yikatong.auth import service as auth

    platform, people = live_server.platform, live_server.population.person_ids
    with platform.uow() as uow:
        today = local_date(uow.now())
        month = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
        period = month.strftime("%Y-%m")
        who = {role: uow.session.get(Person, people[role])
               for role in ("holder", "not_activated", "top_up_paid")}
        rows = [service.PayeeRow(who["holder"].ssn, who["holder"].name, AMOUNT),
                service.PayeeRow(who["not_activated"].ssn, who["not_activated"].name, AMOUNT),
                service.PayeeRow(who["top_up_paid"].ssn, "名不符（虚构）", AMOUNT)]
        service.receive_payee_list(uow=uow, actor=OFFICE, programme_code=PROGRAMME,
                                   period=period, rows=rows)
        certification.register_pensioner(uow=uow, actor=OFFICE, person_id=people["holder"],
                                         since=date(today.year - 3, 1, 1))
        auth.create_user(uow=uow, actor=Actor.system("browser"), username="paying-office",
                         password=PASSWORD, role=Role.PAYING_OFFICE, branch_code="CZ-SI")
        uow.commit()
    view = runs.run(platform, actor=OFFICE, programme_code=PROGRAMME, period=period)
    assert view.state == "reconciled", view
    return PaidRun(period=period, office_login="paying-office")


def test_the_holder_sees_the_payment_and_confirms_their_pension(page, live_server, paid_run):
    platform, population = live_server.platform, live_server.population
    person_id = population.person_ids["holder"]
    with platform.uow(read_only=True) as uow:
        payments = service.payments_of(uow=uow, person_id=person_id)
    paid = next(p for p in payments if p.programme == PROGRAMME and p.period == paid_run.period)
    assert paid.status == "posted" and paid.amount_fen == AMOUNT
    sign_in(page, population.usernames["holder"])
    page.goto("/me/payments")
    rows = page.locator("#payments tbody tr")
    expect(rows).to_have_count(len(payments))
    row = page.locator("#payments tbody tr.status-posted", has_text=paid_run.period)
    expect(row).to_contain_text(money(AMOUNT))
    expect(row).to_contain_text(paid.account_masked)
    assert_accessible(page)
    screenshot(page, "benefits-my-payments")

    page.goto("/me/pension")
    with platform.uow(read_only=True) as uow:
        before = certification.certifications_of(uow=uow, person_id=person_id)
    # the holder has no e-card: the card read at their reader
    page.locator("#f-card_no").fill(population.card_nos["holder"])
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("使用社会保障卡认证")).click()
    assert page.url.endswith("/me/pension#confirmed"), page.locator("main").inner_text()
    with platform.uow(read_only=True) as uow:
        eligibility = certification.eligibility_of(uow=uow, person_id=person_id)
        history = certification.certifications_of(uow=uow, person_id=person_id)
    assert len(history) == len(before) + 1 or before  # a second run the same day is the same one
    expect(page.locator("#confirmed dd").first).to_have_text(
        f"{eligibility.status_zh} / {eligibility.status_en}")
    expect(page.locator("table tbody tr")).to_have_count(len(history))
    assert_accessible(page)
    screenshot(page, "benefits-my-pension")


@pytest.mark.viewport("desk")
def test_the_paying_office_sees_the_runs_paid_held_failed_and_chart(page, live_server, paid_run):
    with live_server.platform.uow(read_only=True) as uow:
        run = runs.get_run(uow=uow, actor=OFFICE, programme_code=PROGRAMME, period=paid_run.period)
        report = runs.report_of(uow=uow, actor=OFFICE, programme_code=PROGRAMME, period=paid_run.period)
    counts = {key: run.reconciliation[key]["count"] for key in ("posted", "held", "failed")}
    assert counts == {"posted": 1, "held": 1, "failed": 1}
    sign_in(page, paid_run.office_login)
    page.goto("/office/runs")
    row = page.locator("#runs tbody tr", has=page.get_by_role("link", name=PROGRAMME, exact=True),
                       has_text=paid_run.period)
    cells = row.locator("td")
    expect(cells.nth(4)).to_have_text(f"{run.due_count} / {money(run.due_fen)}")
    for column, key in zip((5, 6, 7), ("posted", "held", "failed"), strict=True):
        expect(cells.nth(column)).to_have_text(str(counts[key]))
    assert_accessible(page)
    screenshot(page, "benefits-office-runs")
    row.get_by_role("link", name=PROGRAMME).click()
    expect(page).to_have_url(re.compile(rf"/office/runs/{PROGRAMME}/{paid_run.period}$"))
    for key in ("due", "posted", "held", "failed"):
        figures = page.locator(f"#reconciliation tr.rec-{key} td")
        expect(figures.nth(0)).to_have_text(str(run.reconciliation[key]["count"]))
        expect(figures.nth(1)).to_have_text(money(run.reconciliation[key]["fen"]))
    expect(page.locator("#report tbody tr")).to_have_count(len(report))
    expect(page.locator("figure.chart svg")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "benefits-office-run")
