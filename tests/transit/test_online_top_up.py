"""The online top-up (the holder's web page): paid at once against the last balance the
platform saw, written to the card at its next contact on any channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.transit.conftest import BANK_CARD, CASH, COUNTER, assert_books_balance
from yikatong.core.actor import Actor, Channel, Role
from yikatong.transit import rules, service
from yikatong.transit.errors import CardReadingRequired, ChannelNotForTopUp, PayerNotAccepted

pytestmark = pytest.mark.db


def portal(person_id: int) -> Actor:
    return Actor(user_id=f"web-{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id, account_id=20_000 + person_id)


def test_paid_online_then_written_at_the_next_counter_contact(wallet_platform, make_card, clock):
    card = make_card()
    service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    clock.advance(timedelta(days=3))  # long after any reading a counter would accept
    order = service.create_top_up(platform=wallet_platform, actor=portal(card.person_id),
                                  idempotency_key="online-1", asn=card.asn, amount=3000, payer=BANK_CARD)
    assert (order.channel, order.state) == ("online", "paid")
    assert card.balance == 0  # nothing on the card yet
    reading = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert [s.outcome for s in reading.settled] == ["written"]
    assert card.balance == 3000 and reading.balance == 3000
    assert_books_balance(wallet_platform)


def test_a_card_never_read_cannot_be_topped_up_online(wallet_platform, make_card):
    card = make_card()
    with pytest.raises(CardReadingRequired):
        service.create_top_up(platform=wallet_platform, actor=portal(card.person_id),
                              idempotency_key="online-2", asn=card.asn, amount=3000, payer=BANK_CARD)


def test_online_takes_no_cash_and_presents_no_card(wallet_platform, make_card):
    card = make_card()
    service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    with pytest.raises(PayerNotAccepted):
        service.create_top_up(platform=wallet_platform, actor=portal(card.person_id),
                              idempotency_key="online-3", asn=card.asn, amount=3000, payer=CASH)
    with pytest.raises(ChannelNotForTopUp):
        service.contact(platform=wallet_platform, reader=card.present(), actor=portal(card.person_id))


@pytest.mark.no_db
def test_only_online_orders_skip_the_fresh_reading():
    assert not rules.needs_fresh_reading(rules.TopUpChannel.ONLINE)
    assert all(rules.needs_fresh_reading(channel) for channel in rules.TopUpChannel
               if channel is not rules.TopUpChannel.ONLINE)
