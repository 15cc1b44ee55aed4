"""HR services in a real browser: the holder opens a case on /me/services, uploads its documents
(a real file picked in the file box) and submits it; the HR officer finds it in /hr/queue,
claims and approves it; the holder sees the decision. The states are the service's own."""

from __future__ import annotations

import re

import pytest

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in
from yikatong.core.actor import Actor, Channel, Role
from yikatong.demo.population import PASSWORD
from yikatong.hrservices import service

OFFICER = Actor(user_id="browser-officer", role=Role.HR_OFFICER, channel=Channel.AGENCY)
PDF = b"%PDF-1.4\n% a browser test document\n%%EOF\n"


@pytest.fixture(scope="module")
def officer_login(live_server) -> str:
    """The population's HR officer login has no password (keys only): one that signs in."""
    from yikatong.auth import service as auth

    with live_server.platform.uow() as uow:
        auth.create_user(uow=uow, actor=Actor.system("browser"), username="hr-officer",
                         password=PASSWORD, role=Role.HR_OFFICER)
        uow.commit()
    return "hr-officer"


def the_case(live_server, case_id: int):
    with live_server.platform.uow(read_only=True) as uow:
        return service.get_case(uow=uow, actor=OFFICER, case_id=case_id)


@pytest.mark.viewport("desk")
def test_a_case_opened_and_uploaded_by_the_holder_is_approved_by_the_officer(
        page, live_server, officer_login, tmp_path):
    population = live_server.population
    sign_in(page, population.usernames["holder"])
    page.goto("/me/services")
    page.locator('input[name="service_code"][value="employment_registration"]').check()
    page.locator("#f-employer_name").fill("常州灯笼厂（虚构）")
    page.get_by_role("button", name=re.compile("^(申办|Open the case)$")).click()
    expect(page).to_have_url(re.compile(r"/me/services/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[-1])
    case = the_case(live_server, case_id)
    assert str(case.state) == "open" and case.person_id == population.person_ids["holder"]
    for count, kind in enumerate(case.missing, start=1):
        document = tmp_path / f"{kind}.pdf"
        document.write_bytes(PDF)
        page.locator("#f-kind").select_option(kind)
        page.locator("#f-document").set_input_files(document)
        page.locator('form[enctype="multipart/form-data"] button[type=submit]').click()
        expect(page.locator("#documents tbody tr")).to_have_count(count)
    case = the_case(live_server, case_id)
    assert not case.missing and len(case.documents) >= 2
    expect(page.locator("#documents tbody tr")).to_have_count(len(case.documents))
    assert_accessible(page)
    screenshot(page, "hrservices-holder-case")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^(提交审核|Submit for review)$")).click()
    expect(page).to_have_url(re.compile(rf"/me/services/cases/{case_id}(#[-\w]+)?$"))
    assert str(the_case(live_server, case_id).state) == "submitted"

    page.context.clear_cookies()
    sign_in(page, officer_login)
    page.goto("/hr/queue")
    link = page.locator("#queue").get_by_role("link", name=str(case_id), exact=True)
    expect(link).to_be_visible()
    assert_accessible(page)
    screenshot(page, "hrservices-queue")
    link.click()
    expect(page).to_have_url(re.compile(rf"/hr/cases/{case_id}(#[-\w]+)?$"))
    expect(page.locator("#person")).to_contain_text("*")  # the ID number masked
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^(受理审核|Claim for review)$")).click()
    expect(page).to_have_url(re.compile(rf"/hr/cases/{case_id}(#[-\w]+)?$"))
    assert str(the_case(live_server, case_id).state) == "in_review"
    page.locator('form[action$="/approve"] #f-note').fill("准予登记")
    with page.expect_navigation():
        page.locator('form[action$="/approve"] button[type=submit]').click()
    expect(page).to_have_url(re.compile(rf"/hr/cases/{case_id}(#[-\w]+)?$"))
    case = the_case(live_server, case_id)
    assert str(case.state) == "approved"
    assert_accessible(page)
    screenshot(page, "hrservices-officer-case")

    page.context.clear_cookies()
    sign_in(page, population.usernames["holder"])
    page.goto(f"/me/services/cases/{case_id}")
    expect(page.locator("#case-state")).to_have_text(re.compile(
        re.escape(case.state_zh) + "|" + re.escape(case.state_en)))
    assert_accessible(page)
    screenshot(page, "hrservices-holder-decided")
