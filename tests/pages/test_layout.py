"""The layout every page shares: languages, the menu, the holder's card page."""

from __future__ import annotations

import re

import pytest

from tests.cards.conftest import card_in_use, produce
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def text_of(page) -> str:
    """The page's words without tags, as a reader hears them."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


@pytest.mark.no_db
def test_chinese_first_and_english_by_choice(page_client):
    client = page_client()
    page = client.get("/signin")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    assert 'href="/lang/en?next=/signin"' in page.text
    switched = client.get("/lang/en?next=/signin", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/signin"
    english = client.get("/signin")
    assert '<html lang="en">' in english.text and "User name" in english.text
    assert "用户名" not in english.text


@pytest.mark.no_db
def test_an_unknown_language_keeps_chinese(page_client):
    client = page_client()
    client.get("/lang/fr")
    assert '<html lang="zh-CN">' in client.get("/").text


def test_the_holder_sees_each_card_in_words_and_dates_the_changzhou_way(platform, signed_in):
    in_use = card_in_use(platform, person_id=21)
    waiting = produce(platform, person_id=21, kind="exchange", predecessor=in_use).card_no
    holder = signed_in(Role.HOLDER, person_id=21)
    page = holder.get("/me")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert in_use in page.text and waiting in page.text
    assert "已启用" in page.text and "已激活" in page.text
    assert "已制卡未启用 (持卡人领取后启用)" in text_of(page)
    assert "2026年03月02日" in page.text and "2036年03月01日" in page.text
    holder.get("/lang/en")
    english = holder.get("/me")
    assert "in use" in english.text and "2 Mar 2026" in english.text
    assert 'aria-current="page"' in english.text  # the menu marks where the holder is


def test_a_holder_sees_only_their_own_cards(platform, signed_in):
    theirs = card_in_use(platform, person_id=22)
    other = card_in_use(platform, person_id=23)
    page = signed_in(Role.HOLDER, person_id=22).get("/me").text
    assert theirs in page and other not in page


def test_a_holder_without_a_card_is_told_so(signed_in):
    assert "您还没有卡片" in signed_in(Role.HOLDER).get("/me").text


@pytest.mark.no_db
def test_the_pages_serve_their_own_scripts_and_styles(page_client):
    client = page_client()
    page = client.get("/").text
    assert "https://" not in page.split("<body")[0]  # nothing from another host (no CDN)
    for asset in ("/static/ykt.css", "/static/vendor/htmx-2.0.11.min.js"):
        assert client.get(asset).status_code == 200


def test_the_menu_shows_only_pages_the_role_may_open_and_marks_the_deepest(signed_in):
    from yikatong.pages.navigation import COUNTER_MENU, current_item

    citizen_outlet = signed_in(Role.CITIZEN_OUTLET, branch_code="SMK-DIRECT-01")
    assert "/employer/batches" in {item.path for item in COUNTER_MENU}
    assert 'href="/employer/batches"' not in citizen_outlet.get("/").text  # refused to them
    admin = signed_in(Role.ADMIN)
    page = admin.get("/centre/audit").text
    assert page.count('aria-current="page"') == 1
    assert current_item(COUNTER_MENU, "/counter?q=1").path == "/counter"


@pytest.mark.no_db
def test_the_paying_office_and_hr_officer_menus_reach_their_pages():
    """issue 14: the paying office sees its runs, pension confirmations and payments received;
    the HR officer its queue and the exam office's page (bills); every item is one the access
    table lets the role open."""
    from yikatong.auth.access import allowed_roles
    from yikatong.pages.navigation import MENUS

    paying = {item.path for item in MENUS[Role.PAYING_OFFICE]}
    hr = {item.path for item in MENUS[Role.HR_OFFICER]}
    assert {"/office/runs", "/office/pension", "/payee/bills"} <= paying
    assert {"/hr/queue", "/payee/bills"} <= hr
    for role in (Role.PAYING_OFFICE, Role.HR_OFFICER):
        for item in MENUS[role]:
            assert role in (allowed_roles("GET", item.path) or ()), (role, item.path)
