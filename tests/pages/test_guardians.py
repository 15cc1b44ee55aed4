"""Guardians in the browser's pages: the counter links and unlinks on the documents shown; the
guardian sees "my children" on /me and acts for a child under 16 (card status, loss, transit
balance, never the e-card) through the same service checks as for their own card."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from tests.cards.conftest import card_in_use, read
from tests.pages.conftest import TOKEN_FIELD, form_token
from tests.pages.test_holder_cards import confirm, text_of
from tests.people.test_guardians import CHILD_BORN, PARENT_BORN, link, person
from yikatong.core.actor import Role
from yikatong.people import guardians

pytestmark = pytest.mark.db

SS_OUTLET = {"branch_code": "SS-TN-01"}


def main_of(page) -> str:
    """The page's own content, without the layout's header menu."""
    return re.search(r"<main.*?</main>", page.text, re.S).group(0)


@pytest.fixture
def family(platform):
    parent = person(platform, PARENT_BORN, 41, gender="M", name="周建国")
    child = person(platform, CHILD_BORN, 42, name="周小雨")
    return parent, child, card_in_use(platform, person_id=child)


def test_the_guardian_acts_for_the_child_and_reports_the_card_lost(platform, signed_in, family):
    parent, child, card_no = family
    link(platform, parent, child)
    guardian = signed_in(Role.HOLDER, person_id=parent)
    home = guardian.get("/me")
    assert "我的子女" in home.text and f'href="/me/children/{child}"' in home.text
    assert "代周小雨办理" in text_of(home)

    page = guardian.get(f"/me/children/{child}")
    assert page.status_code == 200
    words = text_of(page)
    assert f"卡片 {card_no}" in words and "人社功能 : 现在可以使用 · 正常" in words
    assert "电子社保卡为本人专用" in words
    assert "/me/ecard" not in main_of(page)  # the child's e-card is never shown to the guardian
    assert f'href="/me/cards/{card_no}/loss?kind=temporary"' in page.text

    fields = confirm(guardian, f"/me/cards/{card_no}/loss?kind=temporary")
    answer = guardian.post(f"/me/cards/{card_no}/loss", data={**fields, "kind": "temporary"},
                           follow_redirects=False)
    assert answer.status_code == 303
    done = guardian.get(answer.headers["location"])
    assert f'href="/me/children/{child}"' in done.text
    assert read(platform, card_no).hr_status == "temporary_loss"
    assert "人社功能 : 现在不能使用 · 临时挂失" in text_of(guardian.get(f"/me/children/{child}"))

    fields = confirm(guardian, f"/me/cards/{card_no}/unblock")
    answer = guardian.post(f"/me/cards/{card_no}/unblock", data=fields, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/me/children/{child}"
    assert read(platform, card_no).hr_status == "normal"


def test_a_stranger_and_a_child_of_16_read_as_missing(platform, clock, signed_in, family):
    parent, child, card_no = family
    link(platform, parent, child)
    stranger = signed_in(Role.HOLDER, person_id=person(platform, date(1979, 5, 5), 43, "M", "李四"))
    assert stranger.get(f"/me/children/{child}").status_code == 404
    assert stranger.get(f"/me/cards/{card_no}/loss").status_code == 404
    clock.set(datetime(2026, 3, 4, 16, 0, tzinfo=UTC))  # the 16th birthday in Beijing
    guardian = signed_in(Role.HOLDER, person_id=parent)  # (a session does not last 3 days)
    assert guardian.get(f"/me/children/{child}").status_code == 404
    assert guardian.get(f"/me/cards/{card_no}/loss").status_code == 404
    assert "我的子女" not in guardian.get("/me").text


def test_the_counter_links_and_unlinks_on_the_documents_shown(platform, signed_in):
    parent = person(platform, PARENT_BORN, 47, gender="M", name="周建国")
    child = person(platform, CHILD_BORN, 48, name="周小雨")
    with platform.uow() as uow:
        from yikatong.people.service import get_person

        parent_ssn = get_person(uow=uow, person_id=parent).ssn
    counter = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    assert f'href="/counter/people/{child}/guardians"' in counter.get(f"/counter/people/{child}").text
    path = f"/counter/people/{child}/guardians"
    token = form_token(counter, path)
    refused = counter.post(path, data={"csrf_token": token, "guardian_ssn": parent_ssn,
                                       "relation": "legal_guardian",
                                       "documents": ["birth_certificate"]})
    assert refused.status_code == 422 and "guardian_documents_missing" in refused.text
    answer = counter.post(path, follow_redirects=False, data={
        "csrf_token": token, "guardian_ssn": parent_ssn, "relation": "parent",
        "documents": ["household_register", "birth_certificate"]})
    assert answer.status_code == 303, answer.text
    words = text_of(counter.get(path))
    assert "周建国" in words and "父母" in words and "出生医学证明" in words and "有效" in words
    with platform.uow() as uow:
        [made] = guardians.links_of(uow=uow, person_id=child)
    page = counter.get(path)
    token = TOKEN_FIELD.search(page.text).group(1)
    ended = counter.post(f"/counter/guardians/{made.id}/end", follow_redirects=False,
                         data={"csrf_token": token, "person_id": child, "reason": "监护人变更"})
    assert ended.status_code == 303
    assert "已在网点解除" in text_of(counter.get(path))
    with platform.uow() as uow:
        assert guardians.links_of(uow=uow, person_id=child)[0].ended_by == made.linked_by


def test_a_citizen_card_outlet_does_not_link(platform, signed_in):
    child = person(platform, CHILD_BORN, 50, name="周小雨")
    counter = signed_in(Role.CITIZEN_OUTLET, branch_code="SMK-DIRECT-01")
    assert counter.get(f"/counter/people/{child}/guardians").status_code == 403
    assert "/guardians" not in counter.get(f"/counter/people/{child}").text
