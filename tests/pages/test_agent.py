"""The 12333 agent's pages: identify the caller, read the card in words, report a temporary
loss by phone and unblock it; a loss reported elsewhere is refused with where to go."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.cards.conftest import holder, person_with_card, read, row_counts
from tests.pages.conftest import form_token
from yikatong.audit.models import AuditRecord
from yikatong.cards import service
from yikatong.core.actor import Channel, Role

pytestmark = pytest.mark.db


def text_of(page) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


def identify(client, ssn, **answers):
    token = form_token(client, "/agent")
    return client.post("/agent/callers", follow_redirects=False,
                       data={"csrf_token": token, "id_number": ssn, **answers})


def press(client, card_no, action):
    page = client.get(f"/agent/cards/{card_no}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    version = re.search(r'name="expected_version" value="(\d+)"', page.text).group(1)
    return client.post(f"/agent/cards/{card_no}/{action}", follow_redirects=False,
                       data={"csrf_token": token, "expected_version": version})


def test_the_agent_identifies_the_caller_and_sees_the_cards_masked(platform, signed_in):
    ssn, person_id, card_no = person_with_card(platform)
    agent = signed_in(Role.PHONE_AGENT)
    found = identify(agent, ssn, name="王小明", phone_last4="5678")
    assert found.status_code == 303 and found.headers["location"] == f"/agent/callers/{person_id}"
    page = agent.get(found.headers["location"])
    words = text_of(page)
    assert "王*明" in words and ssn[:6] + "********" + ssn[-4:] in words
    assert "王小明" not in words and ssn not in words
    assert card_no in words and "已启用" in words and "正常" in words and "已激活" in words


def test_wrong_answers_show_the_form_again_and_change_nothing(platform, signed_in):
    ssn, _person_id, _card_no = person_with_card(platform)
    agent = signed_in(Role.PHONE_AGENT)
    before = row_counts(platform)
    refused = identify(agent, ssn, name="王小明", phone_last4="0000")
    assert refused.status_code == 422
    assert "caller_not_identified" in refused.text and "身份核验未通过" in refused.text
    assert f'value="{ssn}"' in refused.text  # the agent's typing is kept for correction
    assert row_counts(platform) == before


def test_temporary_loss_by_phone_then_unblock(platform, signed_in):
    ssn, _person_id, card_no = person_with_card(platform)
    agent = signed_in(Role.PHONE_AGENT)
    lost = press(agent, card_no, "loss")
    assert lost.status_code == 303 and lost.headers["location"].endswith("?done=loss")
    assert read(platform, card_no).hr_status == "temporary_loss"
    page = text_of(agent.get(lost.headers["location"]))
    assert "临时挂失" in page and "12333 电话" in page
    unblocked = press(agent, card_no, "unblock")
    assert unblocked.status_code == 303
    assert read(platform, card_no).hr_status == "normal"
    with platform.uow() as uow:
        actions = list(uow.session.execute(select(AuditRecord.action).where(
            AuditRecord.entity_type == "card", AuditRecord.entity_id == card_no)).scalars())
    assert actions[-2:] == ["card.temporary_loss_reported", "card.unblocked"]


def test_a_loss_reported_online_is_not_unblocked_by_phone(platform, signed_in):
    ssn, person_id, card_no = person_with_card(platform)
    with platform.uow() as uow:
        service.report_loss(uow=uow, actor=holder(person_id, Channel.ONLINE_APP),
                            card_no=card_no, kind="temporary")
        uow.commit()
    agent = signed_in(Role.PHONE_AGENT)
    before = row_counts(platform)
    refused = press(agent, card_no, "unblock")
    assert refused.status_code in (403, 409, 422)
    assert "unblock_channel_mismatch" in refused.text
    assert row_counts(platform) == before
    assert read(platform, card_no).hr_status == "temporary_loss"


def test_the_agents_pages_are_theirs_only(signed_in):
    holder_client = signed_in(Role.HOLDER)
    assert holder_client.get("/agent").status_code == 403
