"""Staff pages in a real browser: the 12333 agent identifies a caller, reports a temporary
loss and unblocks it; an employer uploads a batch with one bad row and sees each row's
result; the card centre's reference pages render. axe on each page, screenshots."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from tests.applications.conftest import new_applicant
from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from tests.cards.conftest import person_with_card
from yikatong.core.actor import Role
from yikatong.demo.population import EMPLOYER_USCC
from yikatong.employers.web import COLUMNS

pytestmark = pytest.mark.viewport("desk")


def test_the_agent_identifies_a_caller_reports_a_temporary_loss_and_unblocks_it(page, live_server):
    # the financial side stays inactive (the population's bank answers activation its own way);
    # an account number outside the population's prefixes
    ssn, _person_id, card_no = person_with_card(live_server.platform, activate=False,
                                                bank_prefix="999901")
    sign_in(page, live_server.population.usernames[Role.PHONE_AGENT])
    expect(page).to_have_url(re.compile(r"/agent$"))
    assert_accessible(page)
    page.locator("#f-id_number").fill(ssn)
    page.locator("#f-name").fill("王小明")
    page.locator("#f-phone_last4").fill("5678")
    page.locator("#f-phone_last4").press("Enter")
    expect(page).to_have_url(re.compile(r"/agent/callers/\d+$"))
    expect(page.get_by_text("王*明")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name=card_no).click()
    page.get_by_role("button", name=re.compile("办理临时挂失|Report a temporary loss")).click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("临时挂失已登记|temporary loss is recorded"))
    expect(page.locator("dl.facts")).to_contain_text(re.compile("临时挂失|temporarily reported lost"))
    assert_accessible(page)
    screenshot(page, "agent")
    page.get_by_role("button", name=re.compile("^(解挂|Unblock)$")).click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("已解挂|unblocked"))
    expect(page.locator("dl.facts")).to_contain_text(re.compile("正常|in normal use"))


def _batch_files(banks):
    staff = [new_applicant() for _ in banks]
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow([c.name for c in COLUMNS])
    photos = io.BytesIO()
    with zipfile.ZipFile(photos, "w") as archive:
        for number, (person, bank) in enumerate(zip(staff, banks, strict=True), start=1):
            writer.writerow([person.name, person.document_type, person.document_number,
                             person.gender, person.birth_date.isoformat(), "", "", "",
                             person.document_valid_until.isoformat(), bank, "SS-WJ-01",
                             f"{number}.jpg"])
            archive.writestr(f"{number}.jpg", person.photo_jpeg)
    return (
        {"name": "staff.csv", "mimeType": "text/csv", "buffer": table.getvalue().encode()},
        {"name": "photos.zip", "mimeType": "application/zip", "buffer": photos.getvalue()},
    )


def test_an_employer_batch_with_one_bad_row_shows_each_rows_result(page, live_server):
    sign_in(page, live_server.population.usernames[Role.EMPLOYER_AGENT])
    expect(page).to_have_url(re.compile(r"/employer/batches$"))
    assert_accessible(page)
    screenshot(page, "employer-batch")
    staff_csv, photos_zip = _batch_files(["ICBC", "NOPE", "CCB"])
    page.locator("#f-employer_name").fill("常州示例科技有限公司")
    page.locator("#f-uscc").fill(EMPLOYER_USCC)
    page.locator("#f-agent_name").fill("经办人")
    page.locator("#f-agent_document_number").fill("320412197801010043")
    page.locator("#f-csv_file").set_input_files(staff_csv)
    page.locator("#f-photos").set_input_files(photos_zip)
    page.get_by_role("button", name=re.compile("上传批次|Upload the batch")).click()
    expect(page).to_have_url(re.compile(r"/employer/batches/\d+$"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(re.compile("已受理|Accepted"))
    expect(rows.nth(1)).to_contain_text(re.compile("未受理|Refused"))
    expect(rows.nth(1)).to_contain_text("unknown_bank")
    expect(rows.nth(2)).to_contain_text(re.compile("已受理|Accepted"))
    assert_accessible(page)
    screenshot(page, "employer-batch-results")


def test_the_reference_pages_render(page, live_server):
    sign_in(page, live_server.population.usernames[Role.ADMIN])
    expect(page).to_have_url(re.compile(r"/centre"))
    for path, heading in (("/centre/reference/outlets", "服务网点|Outlets"),
                          ("/centre/reference/banks", "合作银行|Partner banks"),
                          ("/centre/reference/fares", "交通票价|Transit fares")):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(heading))
        expect(page.get_by_role("heading", level=2, name=re.compile("现行版本|Version in force"))).to_be_visible()
        assert_accessible(page)
    screenshot(page, "reference")
