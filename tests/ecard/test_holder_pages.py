"""The holder's e-card page: its state in words, channel consents, the password, and the QR
code refreshed by htmx from the same use case as the API."""

from __future__ import annotations

import re

import pytest
from tests.cards.conftest import row_counts
from tests.ecard.conftest import PASSWORD
from tests.pages.conftest import TOKEN_FIELD, page_client, signed_in  # noqa: F401 - fixtures

from yikatong.core.actor import Role

pytestmark = pytest.mark.db


@pytest.fixture
def person(holder):
    return holder(consent=(), password=False)


def csrf(client, path: str = "/me/ecard") -> str:
    return TOKEN_FIELD.search(client.get(path).text).group(1)


def test_consent_password_and_a_code_that_refreshes(signed_in, person):  # noqa: F811
    me = signed_in(Role.HOLDER, person_id=person.person_id)
    page = me.get("/me/ecard")
    assert page.status_code == 200 and "正常" in page.text and "尚未设置" in page.text
    assert "请先设置电子社保卡密码" in page.text
    granted = me.post("/me/ecard/channels/official_app/consent", data={"csrf_token": csrf(me)},
                      follow_redirects=False)
    assert granted.status_code == 303 and person.channel("official_app").consented
    weak = me.post("/me/ecard/password", data={"csrf_token": csrf(me), "new_password": "111111"})
    assert weak.status_code == 422 and 'role="alert"' in weak.text and not person.ecard().password_set
    me.post("/me/ecard/password", data={"csrf_token": csrf(me), "new_password": PASSWORD})
    assert person.ecard().password_set

    wrong = me.post("/me/ecard/qr", data={"csrf_token": csrf(me), "channel": "official_app",
                                         "password": "000111"})
    assert wrong.status_code == 403 and "ecard_wrong_password" in wrong.text
    shown = me.post("/me/ecard/qr", data={"csrf_token": csrf(me), "channel": "official_app",
                                         "password": PASSWORD}, follow_redirects=False)
    assert shown.headers["location"] == "/me/ecard/qr?channel=official_app"
    page = me.get(shown.headers["location"])
    assert page.status_code == 200 and "<svg" in page.text and 'role="img"' in page.text
    assert 'hx-trigger="every 60s"' in page.text
    assert 'hx-get="/me/ecard/qr/code?channel=official_app"' in page.text
    first = me.get("/me/ecard/qr/code?channel=official_app", headers={"HX-Request": "true"})
    second = me.get("/me/ecard/qr/code?channel=official_app", headers={"HX-Request": "true"})
    assert "<html" not in first.text and "<svg" in first.text
    assert re.search(r"<path[^>]+>", first.text).group(0) != re.search(
        r"<path[^>]+>", second.text).group(0)  # a fresh code each time

    me.post("/me/ecard/channels/official_app/withdraw", data={"csrf_token": csrf(me)})
    assert not person.channel("official_app").consented
    stopped = me.get("/me/ecard/qr/code?channel=official_app", headers={"HX-Request": "true"})
    assert stopped.status_code == 200 and 'role="alert"' in stopped.text
    assert "hx-trigger" not in stopped.text  # the refusal ends the polling
    assert me.get("/me/ecard/qr?channel=official_app").status_code == 403


def test_an_unknown_channel_is_refused_and_changes_nothing(signed_in, person):  # noqa: F811
    me = signed_in(Role.HOLDER, person_id=person.person_id)
    token = csrf(me)
    before = row_counts(person.platform)
    refused = me.post("/me/ecard/channels/nowhere/consent", data={"csrf_token": token})
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert row_counts(person.platform) == before


def test_a_holder_without_an_ecard_is_told_so(signed_in):  # noqa: F811
    page = signed_in(Role.HOLDER, person_id=999_001).get("/me/ecard")
    assert page.status_code == 200 and "您还没有电子社保卡" in page.text


def test_the_english_page_uses_the_domains_english_words(signed_in, person):  # noqa: F811
    me = signed_in(Role.HOLDER, person_id=person.person_id)
    me.get("/lang/en")
    page = me.get("/me/ecard").text
    assert "My e-card" in page and "the official e-SSC app" in page and "正常" not in page
