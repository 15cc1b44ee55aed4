"""Signing in and the holder's card page in a real browser: the layout's keyboard use, the
language switch, the session cookie, and no serious accessibility problem."""

from __future__ import annotations

import re

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in


def test_the_sign_in_page_is_accessible(page):
    page.goto("/signin")
    expect(page.locator("#f-username")).to_have_attribute("autocomplete", "username")
    page.keyboard.press("Tab")  # the first stop skips to the content
    expect(page.get_by_role("link", name=re.compile("跳到正文|Skip to content"))).to_be_focused()
    assert_accessible(page)
    screenshot(page, "signin")


def test_a_holder_signs_in_and_sees_their_cards_in_words(page, live_server):
    holder = live_server.population.usernames["holder"]
    card_no = live_server.population.card_nos["holder"]
    sign_in(page, holder)
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", level=2, name=re.compile(card_no))).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "ykt_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("ykt_session") == -1  # scripts cannot read it
    assert_accessible(page)
    screenshot(page, "my-card")


def test_a_wrong_password_is_refused_on_the_form(page, live_server):
    page.goto("/signin")
    page.locator("#f-username").fill(live_server.population.usernames["holder"])
    page.locator("#f-password").fill("not-the-password-1234")
    page.locator("#f-password").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text(re.compile("bad_credentials"))
    expect(page).to_have_url(re.compile(r"/signin$"))
    assert_accessible(page)


def test_signing_out_ends_the_session(page, live_server):
    sign_in(page, live_server.population.usernames["holder"])
    expect(page).to_have_url(re.compile(r"/me$"))
    page.get_by_role("button", name=re.compile("退出登录|Sign out")).click()
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/me")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fme$"))
