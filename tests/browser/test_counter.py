"""The outlet counter in a real browser (desk-sized): a partner outlet finds a person masked
and sees them whole after giving a reason; a social-security outlet hands a produced card
over; the application form and the identity-review queue render; axe on every page."""

from __future__ import annotations

import itertools
import re
from datetime import date

import pytest

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in

pytestmark = pytest.mark.viewport("desk")

PARTNER_LOGIN = "browser-partner-outlet"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
def partner_outlet(live_server) -> str:
    """A partner-run citizen-card outlet's login: it sees people's records masked
    (people/privacy.py), which the population's directly-run outlet does not."""
    from yikatong.auth.service import create_user
    from yikatong.core.actor import Role
    from yikatong.demo.actors import ADMIN
    from yikatong.demo.population import PASSWORD

    with live_server.platform.uow() as uow:
        create_user(uow=uow, actor=ADMIN, username=PARTNER_LOGIN, password=PASSWORD,
                    role=Role.CITIZEN_OUTLET, branch_code="SMK-PARTNER-01")
        uow.commit()
    return PARTNER_LOGIN


def a_card_ready_for_pickup(platform) -> int:
    """A new application at SS-TN-01 walked to "ready for pickup" (each run of the test
    hands over a card of its own)."""
    from yikatong.applications import production, service
    from yikatong.applications.protocols import CardFactory
    from yikatong.applications.reference import synthetic_photo
    from yikatong.demo.actors import ADMIN, BANK_CODE, OUTLET
    from yikatong.people.samples import make_citizen_ssn

    serial = next(_serial)
    number = make_citizen_ssn("320411", date(1985, 5, serial), "F", seq=2 * serial)
    applicant = service.ApplicantData(
        name=f"柜台测{'一二三四五六七八'[serial % 8]}", document_type="resident_id_card",
        document_number=number, gender="F", birth_date=date(1985, 5, serial),
        document_valid_until=date(2036, 1, 1), photo_jpeg=synthetic_photo(number))
    choice = service.CardChoice(kind="first", bank_code=BANK_CODE, pickup_outlet_code="SS-TN-01")
    with platform.uow() as uow:
        app = service.submit_at_outlet(uow=uow, actor=OUTLET, applicant=applicant, choice=choice)
    with platform.uow() as uow:
        service.approve(uow=uow, actor=OUTLET, application_id=app.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:
        service.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=app.id)
    return app.id


def grey_photo() -> bytes:
    from yikatong.applications.reference import synthetic_photo

    return synthetic_photo("grey", background=(120, 120, 120))


def ssn_of(platform, person_id: int) -> str:
    from yikatong.people.service import get_person

    with platform.uow(read_only=True) as uow:
        return get_person(uow=uow, person_id=person_id).ssn


def test_a_partner_outlet_finds_a_person_masked_then_whole_with_a_reason(
        page, live_server, partner_outlet):
    person_id = live_server.population.person_ids["submitted"]
    ssn = ssn_of(live_server.platform, person_id)
    sign_in(page, partner_outlet)
    expect(page).to_have_url(re.compile(r"/counter$"))
    page.locator("#f-q").fill(ssn)
    page.locator("#f-q").press("Enter")
    row = page.locator("table tbody tr").first
    expect(row).to_contain_text(ssn[:6])
    expect(row).not_to_contain_text(ssn)
    assert_accessible(page)
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/counter/people/{person_id}$"))
    expect(page.locator("dl.facts")).not_to_contain_text(ssn)
    assert_accessible(page)

    page.locator("#f-reason_code").select_option("holder_present")
    page.locator("#f-note").fill("身份证原件已核验 ID card checked")
    page.get_by_role("button", name=re.compile("显示完整信息|Show the whole record")).click()
    expect(page.locator("dl.facts")).to_contain_text(ssn)
    expect(page.get_by_role("status")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "person")


def test_an_outlet_operator_hands_a_produced_card_over(page, live_server):
    application_id = a_card_ready_for_pickup(live_server.platform)
    sign_in(page, live_server.population.usernames["ss_outlet_operator"])
    expect(page).to_have_url(re.compile(r"/counter$"))
    link = page.get_by_role("link", name=f"#{application_id}", exact=True)
    expect(link).to_be_visible()
    assert_accessible(page)
    link.click()
    page.get_by_role("button", name=re.compile("发卡启用|Hand the card over")).click()
    expect(page.locator("#activation-code")).to_have_text(re.compile(r"[\w-]{8,}"))
    expect(page.locator("p .state")).to_contain_text(re.compile("已领取|handed over"))
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("打印卡面样张|Card-face proof to print")).click()
    expect(page.locator("img.proof")).to_be_visible()
    page.wait_for_function("() => { const proof = document.querySelector('img.proof');"
                           " return proof.complete && proof.naturalWidth > 0; }")
    assert_accessible(page)


def test_the_counter_the_application_form_and_the_review_queue(page, live_server):
    sign_in(page, live_server.population.usernames["ss_outlet_operator"])
    expect(page.get_by_role("heading", level=1)).to_contain_text("SS-TN-01")
    expect(page.locator("#pickup-heading")).to_be_visible()
    page.wait_for_load_state("load")  # the whole page, not the part painted first
    screenshot(page, "counter")  # the population's work (cards handed over have left it)
    page.goto("/counter/applications/new")
    number = ssn_of(live_server.platform, live_server.population.person_ids["submitted"])
    page.locator("#f-document_number").fill(number)
    page.locator("#f-document_number").press("Tab")  # the live check runs on change
    expect(page.locator("#id-check .alert")).to_contain_text(number[6:10])
    page.locator("#f-photo").set_input_files(files=[{
        "name": "grey.jpg", "mimeType": "image/jpeg", "buffer": grey_photo()}])
    expect(page.locator("#photo-check .alert.bad li")).to_have_count(6)
    assert_accessible(page)
    screenshot(page, "application-form")
    page.goto("/counter/reviews")
    review_id = live_server.population.review_ids["review_open"]
    expect(page.locator(f"#review-{review_id}")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "reviews")
