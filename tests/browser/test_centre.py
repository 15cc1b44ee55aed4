"""The card centre in a real browser (desk-sized): the admin signs in to the dashboards, whose
charts are drawn and whose tables give the service's own numbers, and finds a card's records
in the audit trail."""

from __future__ import annotations

import re

import pytest

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from tests.centre.seed import add_cleared
from yikatong.centre import service
from yikatong.core.clock import local_date

pytestmark = pytest.mark.viewport("desk")


def open_every_table(page) -> None:
    """The tables sit in <details> under each chart; open them so axe checks them too."""
    for summary in page.locator("details > summary").all():
        summary.click()


@pytest.mark.viewport("desk")
def test_the_admin_sees_the_dashboards_with_data(page, live_server):
    # the population rides no bus: a bus and a metro operator's cleared records of today, so the
    # clearing chart has data too (clearing's own tests say how records get there)
    with live_server.platform.uow() as uow:
        today = local_date(uow.now())
        add_cleared(uow, "CZBUS", "offline", 200, today)
        add_cleared(uow, "CZMETRO", "online", 5_000, today)
        uow.commit()
    sign_in(page, live_server.population.usernames["admin"])
    expect(page).to_have_url(re.compile(r"/centre$"))
    charts = page.locator("section.chart figure svg[role=img]")
    expect(charts).to_have_count(6)
    with live_server.platform.uow(read_only=True) as uow:
        board = service.dashboard(uow=uow)
    assert board.applications.total > 0 and board.cards.total > 0 and board.losses
    for table, by_day in (("#t-applications", board.applications), ("#t-cards", board.cards)):
        for series in by_day.series:
            total = page.locator(f'{table} tfoot td[data-key="{series.key}"]')
            expect(total).to_have_text(str(series.total))
        expect(page.locator(f'{table} tfoot td[data-key="total"]')).to_have_text(str(by_day.total))
    for loss in board.losses:
        row = page.locator(f'#t-losses tr[data-key="{loss.channel}/{loss.kind}"] td.num')
        expect(row).to_have_text(str(loss.count))
    assert board.top_ups and {row.operator for row in board.clearing} >= {"CZBUS", "CZMETRO"}
    for row in board.clearing:
        cells = page.locator(f'#t-clearing tr[data-key="{row.operator}"] td.num')
        expect(cells.nth(0)).to_have_text(str(row.purchases))
        expect(cells.nth(2)).to_have_text(str(row.loads))
    screenshot(page, "centre")
    open_every_table(page)
    assert_accessible(page)


@pytest.mark.viewport("desk")
def test_the_admin_finds_a_cards_records_in_the_audit_trail(page, live_server):
    card_no = live_server.population.card_nos["temporary_loss"]
    sign_in(page, live_server.population.usernames["admin"])
    page.get_by_role("link", name=re.compile("审计日志|Audit trail")).click()
    expect(page).to_have_url(re.compile(r"/centre/audit$"))
    page.locator("#f-entity_type").fill("card")
    page.locator("#f-entity_id").fill(card_no)
    page.locator("#f-entity_id").press("Enter")
    rows = page.locator("#t-records tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 2  # produced, handed over, reported lost, ...
    for entity in rows.locator("th code").all_text_contents():
        assert entity == f"card:{card_no}"
    screenshot(page, "audit")
    assert_accessible(page)
    page.get_by_role("button", name=re.compile("核验所显示的记录|Verify the records shown")).click()
    expect(page.locator("#verification")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#t-records tbody tr").first).to_be_visible()  # the same search, again
    assert_accessible(page)
