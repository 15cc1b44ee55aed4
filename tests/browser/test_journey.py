"""A card's life through the pages, as the issue asks: a holder applies online with a photo,
an outlet hands the card over, the holder sees it in use, reports it lost and sees the e-card
stop. Only the card factory's part (production) is done by the platform's own job here, as in
a city it runs between the pages."""

from __future__ import annotations

import itertools
import re
from datetime import date

from tests.browser.harness import assert_accessible, expect, sign_in
from yikatong.applications.reference import synthetic_photo
from yikatong.demo.population import PASSWORD

_journeys = itertools.count(1)
SIGN_OUT = re.compile("退出登录|Sign out")


def _holder_signed_up(live_server) -> tuple[str, str, str]:
    """A person on the population registry, signed up with the real-name provider's assertion
    (auth.service.register_holder, as /signup's real-name path does): username, name, ID."""
    from yikatong.applications.protocols import (
        IdentityAuthenticator,
        PopulationRecord,
        PopulationRegistry,
    )
    from yikatong.auth.service import HolderProof, register_holder
    from yikatong.people.samples import make_citizen_ssn

    n = next(_journeys)
    platform = live_server.platform
    id_number = make_citizen_ssn("320404", date(1990, 6, 6), "M", seq=701 + 2 * n)
    name = f"旅程{'甲乙丙丁'[n % 4]}"
    platform.get(PopulationRegistry).add(PopulationRecord(
        name=name, id_number=id_number, gender="M", birth_date=date(1990, 6, 6),
        nationality="CHN", address="常州市钟楼区示例路3号", photo_jpeg=None))
    username = f"journey-holder-{n}"
    with platform.uow() as uow:
        register_holder(uow=uow, proof=HolderProof(kind="real_name", name=name, id_number=id_number,
                                                   evidence=f"journey-{n}"),
                        username=username, password=PASSWORD,
                        authenticator=platform.get(IdentityAuthenticator))
        uow.commit()
    return username, name, id_number


def _apply_for_pickup(page, name: str, id_number: str) -> int:
    page.goto("/me/apply")
    page.get_by_label(re.compile("^(姓名|Name)$")).fill(name)
    page.get_by_label(re.compile("身份证号码|ID card number")).fill(id_number)
    page.get_by_label(re.compile("实名认证凭证|Real-name check code")).fill("face-ok")
    page.locator('input[name="delivery"][value="pickup"]').check()
    page.locator("#f-pickup_outlet_code").select_option("SS-TN-01")
    page.locator("#f-photo").set_input_files(files=[{
        "name": "me.jpg", "mimeType": "image/jpeg", "buffer": synthetic_photo(id_number)}])
    expect(page.locator("#photo-check")).to_contain_text(re.compile("照片符合全部要求|The photo meets every rule"))
    page.get_by_role("button", name=re.compile("提交申请|Send the application")).click()
    expect(page).to_have_url(re.compile(r"/me/applications#application-\d+$"))
    return int(page.url.rsplit("-", 1)[1])


def _approve_and_produce(live_server, application_id: int) -> str:
    """The outlet's approval and the card factory's run: the platform's own use cases."""
    from yikatong.applications import production
    from yikatong.applications import service as applications
    from yikatong.applications.protocols import CardFactory
    from yikatong.demo.actors import ADMIN, OUTLET

    platform = live_server.platform
    with platform.uow() as uow:
        applications.approve(uow=uow, actor=OUTLET, application_id=application_id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory),
                              personalise=production.chip_personaliser(platform))
    with platform.uow() as uow:
        return applications.get_application(uow=uow, actor=ADMIN,
                                            application_id=application_id).card_no


def test_apply_hand_over_use_lose_and_the_ecard_stops(page, live_server):
    username, name, id_number = _holder_signed_up(live_server)
    sign_in(page, username)
    application_id = _apply_for_pickup(page, name, id_number)
    card_no = _approve_and_produce(live_server, application_id)
    page.get_by_role("button", name=SIGN_OUT).click()

    # The outlet receives the card and hands it over at the counter.
    sign_in(page, live_server.population.usernames["ss_outlet_operator"])
    page.goto(f"/counter/applications/{application_id}")
    page.get_by_role("button", name=re.compile("卡片已送达本网点|The card has arrived at this outlet")).click()
    page.get_by_role("button", name=re.compile("发卡启用|Hand the card over")).click()
    expect(page.get_by_role("main")).to_contain_text(card_no)
    page.get_by_role("button", name=SIGN_OUT).click()

    # The holder sees the card in use, and the e-card that came with it.
    sign_in(page, username)
    card = page.get_by_role("region", name=re.compile(card_no))
    expect(card).to_contain_text(re.compile("已启用|in use"))
    page.goto("/me/ecard")
    expect(page.get_by_role("main")).to_contain_text(re.compile("正常|active"))

    # Lost: reported online, the card shows it and the e-card stops.
    page.goto("/me")
    card = page.get_by_role("region", name=re.compile(card_no))
    card.get_by_role("link", name=re.compile("^(办理临时挂失|Report a temporary loss)$")).click()
    page.get_by_role("button", name=re.compile("确认挂失|Yes, report the loss")).click()
    expect(page.get_by_role("status")).to_contain_text(card_no)
    page.goto("/me/ecard")
    expect(page.get_by_role("main")).to_contain_text(re.compile(r"受限|restricted \(card lost"))
    assert_accessible(page)
