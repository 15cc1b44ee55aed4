"""The holder's card pages: functions in words, blocks in force, the expiry reminder, notices;
reporting a loss and unblocking online through the same service and idempotency as the API."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.cards.conftest import PHONE, act, card_in_use, read, row_counts
from tests.pages.conftest import TOKEN_FIELD
from yikatong.cards import service
from yikatong.core.actor import Role

pytestmark = pytest.mark.db

KEY_FIELD = re.compile(r'name="key" value="([^"]+)"')


def text_of(page) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


def confirm(holder, path: str) -> dict:
    """The confirmation form's fields (CSRF token and idempotency key) from its page."""
    page = holder.get(path)
    assert page.status_code == 200, page.text
    return {"csrf_token": TOKEN_FIELD.search(page.text).group(1),
            "key": KEY_FIELD.search(page.text).group(1)}


def test_each_function_in_words_with_what_may_be_done_online(platform, signed_in):
    card_no = card_in_use(platform, person_id=31)
    holder = signed_in(Role.HOLDER, person_id=31)
    words = text_of(holder.get("/me"))
    assert "人社功能 : 现在可以使用 · 正常" in words and "金融功能 : 现在可以使用 · 已激活" in words
    assert "挂失与冻结" in words and "无。" in words
    page = holder.get("/me").text
    assert f'href="/me/cards/{card_no}/loss?kind=temporary"' in page
    assert f'href="/me/cards/{card_no}/loss?kind=formal"' in page
    assert "/unblock" not in page


def test_a_temporary_loss_reported_online_then_unblocked(platform, signed_in):
    card_no = card_in_use(platform, person_id=32)
    holder = signed_in(Role.HOLDER, person_id=32)
    fields = confirm(holder, f"/me/cards/{card_no}/loss?kind=temporary")
    answer = holder.post(f"/me/cards/{card_no}/loss", data={**fields, "kind": "temporary"},
                         follow_redirects=False)
    assert answer.status_code == 303
    done = holder.get(answer.headers["location"])
    assert "临时挂失" in done.text and "自动解挂" in done.text
    assert read(platform, card_no).hr_status == "temporary_loss"
    words = text_of(holder.get("/me"))
    assert "人社功能 : 现在不能使用 · 临时挂失" in words
    assert "网上（网上办事服务大厅或江苏智慧人社 APP）" in words  # the channel of the block
    fields = confirm(holder, f"/me/cards/{card_no}/unblock")
    answer = holder.post(f"/me/cards/{card_no}/unblock", data=fields, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/me"
    assert read(platform, card_no).hr_status == "normal"


def test_the_same_form_sent_twice_reports_the_loss_once(platform, signed_in):
    card_no = card_in_use(platform, person_id=33)
    holder = signed_in(Role.HOLDER, person_id=33)
    fields = {**confirm(holder, f"/me/cards/{card_no}/loss?kind=temporary"), "kind": "temporary"}
    first = holder.post(f"/me/cards/{card_no}/loss", data=fields, follow_redirects=False)
    second = holder.post(f"/me/cards/{card_no}/loss", data=fields, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    with platform.uow() as uow:
        blocks = service.card_blocks(uow=uow, card_no=card_no)
    assert len(blocks) == 1


def test_a_formal_loss_online_shows_the_banks_referral(platform, signed_in):
    card_no = card_in_use(platform, person_id=34)
    holder = signed_in(Role.HOLDER, person_id=34)
    fields = {**confirm(holder, f"/me/cards/{card_no}/loss?kind=formal"), "kind": "formal"}
    answer = holder.post(f"/me/cards/{card_no}/loss", data=fields, follow_redirects=False)
    done = holder.get(answer.headers["location"])
    with platform.uow() as uow:
        bank = __import__("yikatong.directory.service", fromlist=["x"])
        hotline = next(b.hotline for b in bank.list_banks(uow=uow) if b.code == "ICBC")
    assert hotline in done.text  # the referral names the bank's hotline
    assert read(platform, card_no).hr_status == "formal_loss"


def test_a_loss_reported_by_phone_is_not_offered_for_unblocking_online(platform, signed_in):
    card_no = card_in_use(platform, person_id=35)
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    holder = signed_in(Role.HOLDER, person_id=35)
    page = holder.get("/me").text
    assert "/unblock" not in page and "12333 电话" in page
    assert f"/me/cards/{card_no}/loss?kind=formal" in page  # a temporary loss may become formal
    assert f"/me/cards/{card_no}/loss?kind=temporary" not in page
    offered = holder.get(f"/me/cards/{card_no}/unblock")
    assert "本卡没有可以网上解挂的挂失" in offered.text and 'name="key"' not in offered.text
    before = row_counts(platform)  # a form sent anyway is refused by the service's rule
    fields = {"csrf_token": TOKEN_FIELD.search(offered.text).group(1), "key": "k" * 24}
    refused = holder.post(f"/me/cards/{card_no}/unblock", data=fields)
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    assert "unblock_channel_mismatch" in refused.text
    assert row_counts(platform) == before


def test_another_holders_card_reads_as_not_found(platform, signed_in):
    other = card_in_use(platform, person_id=36)
    holder = signed_in(Role.HOLDER, person_id=37)
    assert holder.get(f"/me/cards/{other}/loss").status_code == 404


def test_the_expiry_reminder_shows_when_due(platform, signed_in):
    card_in_use(platform, person_id=38, issue_date=date(2016, 4, 20))  # today: 2 Mar 2026
    holder = signed_in(Role.HOLDER, person_id=38)
    words = text_of(holder.get("/me"))
    assert "本卡金融功能将于 2026年04月19日 到期，还有 48 天。" in words and "换卡续期" in words
    fresh = signed_in(Role.HOLDER, person_id=39)
    card_in_use(platform, person_id=39)
    assert "到期" not in text_of(fresh.get("/me"))


def test_the_holders_text_messages_are_listed(platform, signed_in):
    from yikatong.notices.service import send_sms

    with platform.uow() as uow:
        send_sms(uow=uow, template="card_unblocked", phone="13800001234", person_id=40,
                 params={"card_tail": "1234"})
        send_sms(uow=uow, template="card_unblocked", phone="13800005678", person_id=41,
                 params={"card_tail": "5678"})
        uow.commit()
    page = signed_in(Role.HOLDER, person_id=40).get("/me")
    assert page.text.count('<ul class="notices">') == 1
    notices = page.text.split('<ul class="notices">')[1].split("</ul>")[0]
    assert notices.count("<li>") == 1
