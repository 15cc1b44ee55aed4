"""Two settlements of one campaign's month at once (a double click, the CLI beside the web page).

On PostgreSQL the second read "not settled yet" while the first had stated the month and not
committed, stated it again and crashed on the unique key (uq_discount_settlements_campaign_id_
payee_code_period): the API answered 500 instead of the AlreadySettled SQLite gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import second_while_first_holds
from tests.discounts.conftest import SPONSOR, act, card_holder, reduction_campaign
from tests.discounts.test_service import _redeem
from yikatong.discounts import errors, service
from yikatong.discounts.models import Settlement

pytestmark = pytest.mark.db


def test_a_second_settlement_while_the_first_is_uncommitted_is_refused_as_already_settled(platform, clock):
    _, card = card_holder(platform)
    reduction_campaign(platform)
    _redeem(platform, card, 20_000, "a1")
    clock.advance(timedelta(days=31))

    def settle():
        return act(platform, service.settle, actor=SPONSOR, campaign_code="MJ1", period="2026-03")

    outcome = second_while_first_holds(platform, "INSERT INTO discount_settlements", settle, settle)
    assert [s.payee_code for s in outcome["first"]] == ["M-CZ-0001"], outcome
    assert isinstance(outcome["second"], errors.AlreadySettled), outcome
    with platform.uow() as uow:
        assert len(uow.session.execute(select(Settlement.id)).all()) == 1
