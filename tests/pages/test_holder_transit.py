"""The holder's transit page: each card's wallet as the platform last saw it, its orders, and
an online top-up paid on the page and written at the card's next contact."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.pages.conftest import form_token
from tests.transit.conftest import CASH, COUNTER, keystore, make_card, wallet_platform  # noqa: F401 - fixtures
from yikatong.core.actor import Role
from yikatong.transit import service
from yikatong.transit.models import TopUpOrder

pytestmark = pytest.mark.db

PAID_UNWRITTEN = '<span class="state">已付款，待写卡</span>'


def top_up_form(client, card_no: str, **overrides) -> dict:
    return {"csrf_token": form_token(client, "/me/transit"), "card_no": card_no, "amount_yuan": "30",
            "payer_kind": "e_wallet", "payer_reference": "wx-778899", "idempotency_key": "page-top-up-1",
            **overrides}


def orders(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count(TopUpOrder.id))).scalar_one()


@pytest.fixture
def holder_with_card(request, signed_in):
    """(platform, card, client): a card read and topped up at a counter, its holder signed in."""
    platform = request.getfixturevalue("wallet_platform")
    card = request.getfixturevalue("make_card")()
    service.contact(platform=platform, reader=card.present(), actor=COUNTER)
    service.create_top_up(platform=platform, actor=COUNTER, idempotency_key="counter-1",
                          asn=card.asn, amount=2000, payer=CASH)
    service.write_top_up(platform=platform, reader=card.present(), actor=COUNTER,
                         order_no=_only_order(platform, card.asn))
    return platform, card, signed_in(Role.HOLDER, person_id=card.person_id)


def _only_order(platform, asn: str) -> str:
    with platform.uow() as uow:
        return service.list_top_ups(uow=uow, asn=asn)[0].order_no


def test_the_page_shows_the_balance_last_seen_and_the_history(holder_with_card):
    _platform, card, client = holder_with_card
    page = client.get("/me/transit")
    assert page.status_code == 200
    assert re.search(r'<dd class="balance">¥20\.00</dd>', page.text)
    assert "已到账" in page.text and "市民卡网点柜台" in page.text


def test_an_online_top_up_is_paid_here_and_written_at_the_next_contact(holder_with_card):
    platform, card, client = holder_with_card
    answer = client.post("/me/transit/top-ups", data=top_up_form(client, card.card_no), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/me/transit")
    assert PAID_UNWRITTEN in page.text and "网上充值" in page.text
    assert card.balance == 2000  # not on the card yet
    service.contact(platform=platform, reader=card.present(), actor=COUNTER)
    assert card.balance == 5000
    page = client.get("/me/transit")
    assert '<dd class="balance">¥50.00</dd>' in page.text and PAID_UNWRITTEN not in page.text


def test_a_refused_top_up_is_shown_on_the_form_and_nothing_is_ordered(holder_with_card):
    platform, card, client = holder_with_card
    before = orders(platform)
    answer = client.post("/me/transit/top-ups", data=top_up_form(client, card.card_no, amount_yuan="0.5"))
    assert answer.status_code == 422 and 'role="alert"' in answer.text
    assert 'value="0.5"' in answer.text
    assert orders(platform) == before


def test_someone_else_s_card_cannot_be_topped_up_here(holder_with_card, signed_in):
    platform, card, _client = holder_with_card
    stranger = signed_in(Role.HOLDER, person_id=card.person_id + 500)
    before = orders(platform)
    answer = stranger.post("/me/transit/top-ups", data=top_up_form(stranger, card.card_no))
    assert answer.status_code == 404
    assert orders(platform) == before
