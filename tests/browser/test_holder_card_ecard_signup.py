"""The cardholder's pages in a real browser: a holder signs in, reads their card's functions in
words, reports a temporary loss and sees it; shows the e-card's QR code; signs up with the
texted code. Axe on each page; screenshots of each main page in zh and en."""

from __future__ import annotations

import itertools
import re
import time
from datetime import date

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in

# Each test runs once per language against the one live platform: each run gets people of its own.
_people = itertools.count(1)


def _holder_with_a_card(platform) -> tuple[str, str]:
    """A new login tied to a new person whose card is in use (a card as the factory delivers
    it, handed over at an outlet): (username, card number)."""
    from tests.cards.conftest import OUTLET, SYSTEM
    from yikatong.applications.rules import luhn_complete
    from yikatong.auth.service import create_user
    from yikatong.cards import service
    from yikatong.core.actor import Actor
    from yikatong.demo.population import PASSWORD

    n = next(_people)
    person_id, card_no = 970_000 + n, f"B{970_000 + n:08d}"  # apart from the population's
    with platform.uow() as uow:
        service.register_produced_card(
            uow=uow, actor=SYSTEM, application_id=None, person_id=person_id, kind="first",
            bank_code="ICBC", issue_date=date(2026, 3, 2), card_no=card_no,
            card_id_code=f"320400D1560000059700{n:012X}", chip_serial=f"BROWSER{n:09d}",
            asn=f"97{n:018d}", pan=luhn_complete(f"62122697{n:010d}"))
        service.hand_over(uow=uow, actor=OUTLET, card_no=card_no)
        uow.commit()
    username = f"browser-holder-{person_id}"
    with platform.uow() as uow:
        create_user(uow=uow, actor=Actor.system("browser-tests"), username=username,
                    password=PASSWORD, role="holder", person_id=person_id)
        uow.commit()
    return username, card_no


def test_a_holder_reports_a_temporary_loss_and_sees_it(page, live_server):
    username, card_no = _holder_with_a_card(live_server.platform)
    sign_in(page, username)
    expect(page).to_have_url(re.compile(r"/me$"))
    card = page.get_by_role("region", name=re.compile(card_no))
    expect(card.get_by_role("listitem").first).to_contain_text(
        re.compile(r"人社功能:\s*现在可以使用|HR function:\s*can be used now"))
    card.get_by_role("link", name=re.compile("^(办理临时挂失|Report a temporary loss)$")).click()
    expect(page).to_have_url(re.compile(rf"/me/cards/{card_no}/loss\?kind=temporary$"))
    assert_accessible(page)
    screenshot(page, "report-loss")
    page.get_by_role("button", name=re.compile("确认挂失|Yes, report the loss")).click()
    expect(page.get_by_role("status")).to_contain_text(card_no)
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("返回我的卡|Back to my card")).click()
    card = page.get_by_role("region", name=re.compile(card_no))
    expect(card.get_by_role("listitem").first).to_contain_text(
        re.compile(r"现在不能使用\s*·\s*临时挂失|cannot be used now\s*·\s*temporarily reported lost"))
    expect(card.locator("ul.blocks")).to_contain_text(re.compile("临时挂失|temporary loss"))
    screenshot(page, "my-card-lost")
    expect(card.get_by_role("link", name=re.compile("^(解除挂失|Unblock the card)$"))).to_be_visible()
    assert_accessible(page)


def test_a_holder_shows_the_ecard_qr_code(page, live_server):
    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard import service
    from yikatong.ecard.errors import EcardPasswordAlreadySet

    platform = live_server.platform
    person_id = live_server.population.person_ids["holder"]
    holder = Actor(user_id="browser-tests", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                   person_id=person_id)
    with platform.uow() as uow:  # the holder consented on one channel and has a password
        service.grant_consent(uow=uow, actor=holder, channel="official_app",
                              keys=platform.get(KeyStore))
    try:
        with platform.uow() as uow:
            service.set_password(uow=uow, actor=holder, new_password="739164")
    except EcardPasswordAlreadySet:
        pass  # set by this test in the other language
    sign_in(page, live_server.population.usernames["holder"])
    page.get_by_role("link", name=re.compile("^(我的电子社保卡|My e-card)$")).click()
    expect(page).to_have_url(re.compile(r"/me/ecard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("我的电子社保卡|My e-card"))
    assert_accessible(page)
    screenshot(page, "ecard")
    page.get_by_label(re.compile(r"^(电子社保卡密码（6 位数字）|E-card password \(6 digits\))$")).fill("739164")
    page.get_by_role("button", name=re.compile("^(显示二维码|Show the code)$")).click()
    expect(page).to_have_url(re.compile(r"/me/ecard/qr\?channel=official_app$"))
    code = page.get_by_role("img", name=re.compile("电子社保卡二维码|E-card QR code"))
    expect(code.locator("svg")).to_be_visible()
    expect(page.locator("#ecard-code")).to_have_attribute("hx-trigger", "every 60s")
    assert_accessible(page)
    screenshot(page, "ecard-qr")


def test_a_person_on_file_signs_up_with_the_texted_code(page, live_server):
    from tests.applications.conftest import OUTLET, new_applicant, pickup
    from yikatong.applications import service as applications
    from yikatong.notices.protocols import SmsGateway

    platform = live_server.platform
    phone = f"1390000{next(_people):04d}"
    applicant = new_applicant(phone=phone, birth=date(1987, 5, 9), region="320411")
    with platform.uow() as uow:
        applications.submit_at_outlet(uow=uow, actor=OUTLET, applicant=applicant, choice=pickup())
    page.goto("/signup")
    assert_accessible(page)
    screenshot(page, "signup")
    page.get_by_label(re.compile("^(姓名|Name)$")).fill(applicant.name)
    page.get_by_label(re.compile("^(身份证号码|ID card number)$")).fill(applicant.document_number)
    page.get_by_role("button", name=re.compile("发送验证码|Text me a code")).click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("10 分钟|10 minutes"))
    code = texted_code(platform.get(SmsGateway), phone, r"注册常州一卡通账号，验证码 (\d{6})")
    page.get_by_label(re.compile("短信验证码|Code from the text message")).fill(code)
    page.get_by_label(re.compile("^(用户名|User name)$")).fill(f"browser-signup-{phone}")
    page.get_by_label(re.compile("^(密码|Password)$")).fill("Changzhou-Browser-Signup-2026!")
    page.get_by_role("button", name=re.compile("^(注册|Sign up)$")).click()
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("我的卡|My card"))


def texted_code(gateway, phone: str, wording: str, wait: float = 15.0) -> str:
    """The code in the text to `phone` that matches `wording`, once it has arrived: the page
    answers first and the code is sent by a background task after it, while the application's
    own notices reach the same phone from the notice relay, so the text is neither there at once
    nor always the newest."""
    deadline = time.monotonic() + wait
    while True:
        for message in gateway.delivered(phone=phone):
            if match := re.search(wording, message.text):
                return match.group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"no text like {wording!r} reached {phone} within {wait} s")
        time.sleep(0.1)
