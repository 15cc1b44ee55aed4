"""The platform's view of a retired card (issue 10): retired, none of its functions usable,
whatever the bank's last event said; the bank's own last word is kept beside it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.cards.conftest import card_in_use, hand_over, holder, produce, read
from tests.cards.test_lifecycle import report
from yikatong.cards.models import Card

pytestmark = pytest.mark.db


def test_a_replaced_card_is_retired_on_every_function_whatever_the_bank_said(platform):
    card_no = card_in_use(platform, person_id=71)
    report(platform, card_no, holder(71), "formal")
    replacement = produce(platform, person_id=71, kind="replacement", predecessor=card_no)
    hand_over(platform, replacement.card_no)
    with platform.uow() as uow:  # the bank's last event said the account was active again
        uow.session.execute(
            select(Card).where(Card.card_no == card_no)
        ).scalar_one().financial_status = "active"
        uow.commit()
    old = read(platform, card_no)
    assert (old.state, old.financial_status, old.bank_financial_status) == (
        "retired",
        "retired",
        "active",
    )
    assert [(f.function, f.usable, f.status) for f in old.functions] == [
        ("hr", False, "retired"),
        ("financial", False, "retired"),
    ]
    new = read(platform, replacement.card_no)
    assert [(f.function, f.usable) for f in new.functions] == [("hr", True), ("financial", False)]


def test_the_card_route_shows_the_functions_and_the_banks_last_word(platform, client, login):
    from yikatong.core.actor import Role

    card_no = card_in_use(platform, person_id=72)
    report(platform, card_no, holder(72), "formal")
    replacement = produce(platform, person_id=72, kind="replacement", predecessor=card_no)
    hand_over(platform, replacement.card_no)
    headers = login(Role.SS_OUTLET)
    body = client.get(f"/api/v1/cards/{card_no}", headers=headers).json()
    assert body["financial_status"] == "retired"
    assert body["bank_financial_status"] == "active"  # an online loss covers HR only
    assert body["functions"] == [
        {"function": "hr", "usable": False, "status": "retired"},
        {"function": "financial", "usable": False, "status": "retired"},
    ]
