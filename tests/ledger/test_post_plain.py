"""`ledger.post(plain=True)`: the journal, postings and balances written by plain statements
are the rows the ORM path writes, the refusals are the same and change nothing, and the
locked accounts in the session read their new balances."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from tests.ledger.rows import journal_rows
from yikatong.ledger import service
from yikatong.ledger.errors import InsufficientFunds

pytestmark = pytest.mark.db

FUND, ACCOUNT, PAYABLE = "medical:fund:test:pool", "medical:account:test", "medical:institution:test:payable"
LEGS = [(FUND, 700), (ACCOUNT, 300), (PAYABLE, -1000)]


@pytest.fixture
def books(platform):
    with platform.uow() as uow:
        service.open_account(uow=uow, code=FUND, kind="liability", allow_negative=True)
        service.open_account(uow=uow, code=ACCOUNT, kind="liability")
        service.open_account(uow=uow, code=PAYABLE, kind="liability")
        service.open_account(uow=uow, code="medical:bank:test", kind="asset")
        service.post(uow=uow, request_id="credit", kind="test", legs=[("medical:bank:test", 5000), (ACCOUNT, -5000)])
        uow.commit()
    return platform


def test_a_plain_post_writes_the_rows_and_balances_the_orm_post_writes(books):
    with books.uow() as uow:
        journal = service.post(uow=uow, request_id="plain", kind="test", legs=LEGS, memo="门诊", plain=True)
        assert journal.id is not None and journal.request_id == "plain"
        # the locked accounts in this session read the new balances and versions
        assert [service.balance(uow=uow, code=code) for code in (FUND, ACCOUNT, PAYABLE)] == [-700, 4700, 1000]
        uow.commit()
    with books.uow() as uow:
        service.post(uow=uow, request_id="orm", kind="test", legs=LEGS, memo="门诊")
        uow.commit()
    assert journal_rows(books, "plain") == journal_rows(books, "orm")
    with books.uow() as uow:
        assert [service.balance(uow=uow, code=code) for code in (FUND, ACCOUNT, PAYABLE)] == [-1400, 4400, 2000]
        # the versions moved once per post: a third post in one session after a plain one works
        service.post(uow=uow, request_id="plain-2", kind="test", legs=LEGS, plain=True)
        service.post(uow=uow, request_id="orm-2", kind="test", legs=LEGS)
        uow.commit()
        assert service.trial_balance(uow=uow).balanced


def test_a_plain_post_refused_changes_nothing(books):
    with books.uow() as uow, pytest.raises(InsufficientFunds):
        service.post(uow=uow, request_id="too-much", kind="test", plain=True,
                     legs=[(FUND, 9000), (ACCOUNT, 6000), (PAYABLE, -15000)])
    with books.uow() as uow:
        service.post(uow=uow, request_id="once", kind="test", legs=LEGS, plain=True)
        uow.commit()
    with books.uow() as uow, pytest.raises(IntegrityError):  # a new_request claim that is not new
        service.post(uow=uow, request_id="once", kind="test", legs=LEGS, plain=True, new_request=True)
    with books.uow() as uow:
        assert [service.balance(uow=uow, code=code) for code in (FUND, ACCOUNT, PAYABLE)] == [-700, 4700, 1000]
        assert service.trial_balance(uow=uow).balanced
