"""The holder's pages, part B, in a real browser: apply online with a photo checked live
(every failing rule at once) and see the application tracked; the transit wallet's balance;
the bank account through the gateway's read. axe on each page; screenshots in zh and en."""

from __future__ import annotations

import io
import itertools
import re
from datetime import date

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.applications.reference import synthetic_photo

_people = itertools.count(1)


def _bad_photo() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (120, 160), 90).save(out, format="PNG")
    return out.getvalue()


def _new_applicant(live_server) -> tuple[str, str, str]:
    """A person on the population registry (not yet a cardholder) with a holder login of their
    own: (username, name, ID number). New each run: the suite's platform lives for the package."""
    from yikatong.applications.protocols import PopulationRecord, PopulationRegistry
    from yikatong.auth.service import create_user
    from yikatong.core.actor import Actor, Role
    from yikatong.demo.population import PASSWORD
    from yikatong.people.samples import make_citizen_ssn

    n = next(_people)
    id_number = make_citizen_ssn("320402", date(1992, 4, 4), "F", seq=400 + 2 * n)
    name = f"网申{'甲乙丙丁戊己'[n % 6]}"
    platform = live_server.platform
    platform.get(PopulationRegistry).add(PopulationRecord(
        name=name, id_number=id_number, gender="F", birth_date=date(1992, 4, 4), nationality="CHN",
        address="常州市天宁区示例路9号", photo_jpeg=None))  # no photo on file: the upload is needed
    username = f"web-applicant-{n}"
    with platform.uow() as uow:
        create_user(uow=uow, actor=Actor.system("browser-tests"), username=username,
                    password=PASSWORD, role=Role.HOLDER)
        uow.commit()
    return username, name, id_number


def _choose_photo(page, data: bytes, name: str, mime: str) -> None:
    page.locator("#f-photo").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_a_holder_applies_online_with_a_photo_and_sees_it_tracked(page, live_server):
    username, name, id_number = _new_applicant(live_server)
    sign_in(page, username)
    page.goto("/me/apply")
    page.get_by_label(re.compile("^(姓名|Name)$")).fill(name)
    page.get_by_label(re.compile("身份证号码|ID card number")).fill(id_number)
    page.get_by_label(re.compile("实名认证凭证|Real-name check code")).fill("face-ok")
    page.get_by_label(re.compile("邮寄地址|Mailing address")).fill("常州市天宁区示例路9号")
    _choose_photo(page, synthetic_photo(id_number), "me.jpg", "image/jpeg")
    expect(page.locator("#photo-check")).to_contain_text(re.compile("照片符合全部要求|The photo meets every rule"))
    assert_accessible(page)
    screenshot(page, "apply")
    page.get_by_role("button", name=re.compile("提交申请|Send the application")).click()
    expect(page).to_have_url(re.compile(r"/me/applications#application-\d+$"))
    expect(page.locator("section.card").first).to_contain_text(re.compile("已提交|submitted"))
    expect(page.locator("section.card").first).to_contain_text(re.compile("尚未寄出|not posted yet"))
    assert_accessible(page)
    screenshot(page, "applications")


def test_a_bad_photo_shows_every_failing_rule_at_once(page, live_server):
    username, _name, _id_number = _new_applicant(live_server)
    sign_in(page, username)
    page.goto("/me/apply")
    _choose_photo(page, _bad_photo(), "me.png", "image/png")
    failures = page.locator("#photo-check ul.photo-failures li")
    expect(failures).to_have_count(5)  # JPEG, size, dpi, colour depth, white background
    expect(failures.first).to_contain_text(re.compile("JPG|JPEG"))
    assert_accessible(page)
    screenshot(page, "apply-bad-photo")


def test_the_transit_page_shows_the_wallet_balance(page, live_server):
    sign_in(page, live_server.population.usernames["holder"])
    page.goto("/me/transit")
    expect(page.locator("dd.balance").first).to_have_text(re.compile(r"^¥[\d,]+\.\d\d$"))
    expect(page.get_by_role("heading", level=2, name=re.compile("网上充值|Top up online"))).to_be_visible()
    assert_accessible(page)
    screenshot(page, "transit")


def test_the_bank_page_shows_the_account_as_the_bank_tells_it(page, live_server):
    sign_in(page, live_server.population.usernames["holder"])
    page.goto("/me/bank")
    card_no = live_server.population.card_nos["holder"]
    section = page.locator("section.card", has=page.get_by_role("heading", name=re.compile(card_no)))
    expect(section.locator("dd.balance")).to_have_text(re.compile(r"^¥[\d,]+\.\d\d$"))
    assert_accessible(page)
    screenshot(page, "bank")
