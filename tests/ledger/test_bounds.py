"""No posting takes a balance past ±MAX_BALANCE_FEN, and no amount beyond it is a leg: sums of
balances and amounts can never overflow a 64-bit column (a 500 and a corrupt account)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from yikatong.core.money import MAX_BALANCE_FEN
from yikatong.ledger import service
from yikatong.ledger.errors import BalanceLimitExceeded, InvalidAmount
from yikatong.ledger.models import Journal

pytestmark = pytest.mark.db

CUSTOMER = "bank:ICBC:customer:6217001234567890123"
CASH = "bank:ICBC:cash"


@pytest.fixture
def accounts(platform):
    with platform.uow() as uow:
        service.open_account(uow=uow, code=CASH, kind="asset")
        service.open_account(uow=uow, code=CUSTOMER, kind="liability")
        uow.commit()


def post(platform, request_id: str, amount: int) -> None:
    with platform.uow() as uow:
        service.post(uow=uow, request_id=request_id, kind="deposit", legs=[(CASH, amount), (CUSTOMER, -amount)])
        uow.commit()


def state(platform) -> tuple:
    with platform.uow() as uow:
        journals = uow.session.execute(select(func.count()).select_from(Journal)).scalar_one()
        return (service.balance(uow=uow, code=CASH), service.balance(uow=uow, code=CUSTOMER), journals)


def test_a_balance_may_reach_the_bound_but_not_pass_it(platform, accounts):
    post(platform, "up-to-the-bound", MAX_BALANCE_FEN - 1)
    post(platform, "the-last-fen", 1)
    assert state(platform)[:2] == (MAX_BALANCE_FEN, MAX_BALANCE_FEN)
    before = state(platform)
    with pytest.raises(BalanceLimitExceeded) as refused:
        post(platform, "one-fen-too-many", 1)
    assert refused.value.http_status == 422 and "10000000000000.00" in refused.value.message_en
    assert state(platform) == before


@pytest.mark.parametrize("amount", [MAX_BALANCE_FEN + 1, 2**63 - 1, 2**63, 10**30, -(2**63)])
def test_an_amount_beyond_the_bound_is_no_leg(platform, accounts, amount):
    before = state(platform)
    with pytest.raises(InvalidAmount):
        post(platform, "huge", amount)
    assert state(platform) == before
