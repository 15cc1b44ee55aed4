"""`ledger.post(late_unchecked=True)`: the accounts a posting raises (or that may go negative)
move in the transaction's last statement, before COMMIT; the rows and balances after the
commit are the ones a plain post leaves, the accounts taken down are checked as before, a
rollback takes the late moves with it, and a balance read through the ledger in the same
transaction sees them."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, update

from tests.ledger.rows import journal_rows
from yikatong.core.money import MAX_BALANCE_FEN
from yikatong.ledger import service
from yikatong.ledger.errors import AccountNotFound, BalanceLimitExceeded, InsufficientFunds
from yikatong.ledger.models import Journal, LedgerAccount

pytestmark = pytest.mark.db

POOL, ACCOUNT, PAYABLE = "medical:fund:test:pool", "medical:account:test", "medical:institution:test:payable"
BANK = "medical:bank:test"
LEGS = [(POOL, 700), (ACCOUNT, 300), (PAYABLE, -1000)]  # the settlement's shape


@pytest.fixture
def books(platform):
    with platform.uow() as uow:
        service.open_account(uow=uow, code=POOL, kind="expense")
        service.open_account(uow=uow, code=ACCOUNT, kind="liability")
        service.open_account(uow=uow, code=PAYABLE, kind="liability", allow_negative=True)
        service.open_account(uow=uow, code=BANK, kind="asset")
        service.post(uow=uow, request_id="credit", kind="test", legs=[(BANK, 5000), (ACCOUNT, -5000)])
        uow.commit()
    return platform


def _late(uow, request_id: str, legs=LEGS):
    return service.post(uow=uow, request_id=request_id, kind="test", legs=legs, memo="门诊", plain=True,
                        new_request=True, late_unchecked=True)


def _stored(platform) -> list:
    """The balances as stored in the rows (not through the ledger's reads)."""
    with platform.uow() as uow:
        return _stored_in(uow)


def test_a_late_post_leaves_the_rows_and_balances_a_plain_post_leaves(books):
    with books.uow() as uow:
        journal = _late(uow, "late")
        assert journal.id is not None and journal.request_id == "late"
        # the account taken down moved now; the raised ones wait for the commit
        assert _stored_in(uow) == [0, 4700, 0]
        uow.commit()
    assert _stored(books) == [700, 4700, 1000]
    with books.uow() as uow:
        service.post(uow=uow, request_id="plain", kind="test", legs=LEGS, memo="门诊", plain=True)
        uow.commit()
    assert journal_rows(books, "late") == journal_rows(books, "plain")
    with books.uow() as uow:
        assert [service.balance(uow=uow, code=code) for code in (POOL, ACCOUNT, PAYABLE)] == [1400, 4400, 2000]
        assert service.trial_balance(uow=uow).balanced


def _stored_in(uow) -> list:
    return [uow.session.execute(select(LedgerAccount.balance).where(LedgerAccount.code == code)).scalar_one()
            for code in (POOL, ACCOUNT, PAYABLE)]


def _assert_settled(books, balances: list) -> None:
    """The stored balances are `balances` and the books balance."""
    assert _stored(books) == balances
    with books.uow() as uow:
        assert service.trial_balance(uow=uow).balanced


def test_a_ledger_read_in_the_same_transaction_sees_the_late_moves(books):
    with books.uow() as uow:
        _late(uow, "late-1")
        _late(uow, "late-2")  # two late posts in one transaction add up
        assert service.balance(uow=uow, code=POOL) == 1400  # applied before the read
        assert _stored_in(uow) == [1400, 4400, 2000]
        service.post(uow=uow, request_id="orm", kind="test", legs=LEGS)  # an ordinary post after them
        assert service.trial_balance(uow=uow).balanced
        uow.commit()
    _assert_settled(books, [2100, 4100, 3000])


def test_a_rolled_back_late_post_moves_nothing(books):
    with books.uow() as uow:
        _late(uow, "late")
        uow.session.rollback()
        # the next transaction of the same session commits without the forgotten moves
        service.post(uow=uow, request_id="after", kind="test", legs=LEGS, plain=True)
        uow.commit()
    assert _stored(books) == [700, 4700, 1000]
    with books.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Journal)
                                   .where(Journal.request_id == "late")).scalar_one() == 0
        assert service.trial_balance(uow=uow).balanced


def test_a_late_post_inside_a_savepoint_rolls_back_with_it(books):
    with books.uow() as uow:
        savepoint = uow.session.begin_nested()
        _late(uow, "late")
        savepoint.rollback()
        uow.commit()
    _assert_settled(books, [0, 5000, 0])


def test_refusals_come_before_any_write(books):
    with books.uow() as uow, pytest.raises(InsufficientFunds):
        _late(uow, "too-much", legs=[(POOL, 9000), (ACCOUNT, 6000), (PAYABLE, -15000)])
    with books.uow() as uow, pytest.raises(AccountNotFound):
        _late(uow, "nowhere", legs=[("medical:fund:none:pool", 700), (PAYABLE, -700)])
    with books.uow() as uow:
        uow.session.execute(update(LedgerAccount).where(LedgerAccount.code == POOL)
                            .values(balance=MAX_BALANCE_FEN - 100))
        uow.commit()
    with books.uow() as uow, pytest.raises(BalanceLimitExceeded):  # found against the unlocked read
        _late(uow, "past-the-bound")
    with books.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Journal)).scalar_one() == 1  # the credit


def test_a_bound_passed_meanwhile_fails_the_commit(books):
    if books.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's transactions take the write lock first: no other writer meanwhile")
    with books.uow() as uow:
        _late(uow, "late")
        with books.uow() as other:  # another transaction takes the pool to the bound meanwhile
            other.session.execute(update(LedgerAccount).where(LedgerAccount.code == POOL)
                                  .values(balance=MAX_BALANCE_FEN - 100))
            other.commit()
        with pytest.raises(BalanceLimitExceeded):
            uow.commit()
    with books.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Journal)
                                   .where(Journal.request_id == "late")).scalar_one() == 0
        assert _stored_in(uow) == [MAX_BALANCE_FEN - 100, 5000, 0]


def test_concurrent_late_posts_lose_no_update(books):
    errors: list[BaseException] = []

    def settle(worker: int) -> None:
        try:
            for n in range(10):
                with books.uow() as uow:
                    _late(uow, f"w{worker}-{n}", legs=[(POOL, 7), (ACCOUNT, 3), (PAYABLE, -10)])
                    uow.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=settle, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_settled(books, [280, 4880, 400])


def test_two_accounts_taken_down_are_both_checked_before_either_is_written(books):
    with books.uow() as uow:
        _late(uow, "late")
        uow.commit()
    back = [(ACCOUNT, 100), (POOL, -200), (PAYABLE, 100)]  # the pool and the account both go down
    with books.uow() as uow, pytest.raises(InsufficientFunds):
        _late(uow, "too-much", legs=[(ACCOUNT, 100), (POOL, -800), (PAYABLE, 700)])
    assert _stored(books) == [700, 4700, 1000]
    with books.uow() as uow:
        _late(uow, "back", legs=back)
        uow.commit()
    assert _stored(books) == [500, 4600, 900]


def test_the_account_taken_down_reads_its_new_balance_in_the_session(books):
    with books.uow() as uow:
        held = uow.session.execute(select(LedgerAccount).where(LedgerAccount.code == ACCOUNT)).scalar_one()
        _late(uow, "late")
        assert (held.balance, held.version) == (4700, 3)
        assert service.balance(uow=uow, code=ACCOUNT) == 4700
        uow.commit()
    with books.uow() as uow:
        assert service.trial_balance(uow=uow).balanced
