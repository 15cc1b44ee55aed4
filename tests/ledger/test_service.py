"""The ledger on a real database: balances, idempotency, never negative, concurrency, and
invariants over random sequences of posts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from yikatong.core.errors import IdempotencyKeyReused, InvalidInput
from yikatong.core.money import yuan
from yikatong.ledger import service
from yikatong.ledger.errors import (
    AccountExists,
    AccountNotFound,
    InsufficientFunds,
    UnbalancedJournal,
    UnsupportedCurrency,
)
from yikatong.ledger.models import Journal, LedgerAccount, LedgerIsAppendOnly, Posting

pytestmark = pytest.mark.db

CUSTOMER = "bank:ICBC:customer:6217001234567890123"
CASH = "bank:ICBC:cash"
FLOAT = "transit:float"
METRO = "transit:operator:metro"


@pytest.fixture
def accounts(platform):
    with platform.uow() as uow:
        service.open_account(uow=uow, code=CASH, kind="asset")
        service.open_account(uow=uow, code=CUSTOMER, kind="liability")
        service.open_account(uow=uow, code=FLOAT, kind="liability")
        service.open_account(uow=uow, code=METRO, kind="liability")
        uow.commit()
    return platform


def post(platform, request_id, legs, kind="test"):
    with platform.uow() as uow:
        journal = service.post(uow=uow, request_id=request_id, kind=kind, legs=legs, memo="测试")
        uow.commit()
    return journal


def balances(platform, *codes):
    with platform.uow() as uow:
        return [service.balance(uow=uow, code=code) for code in codes]


def assert_books_consistent(platform):
    with platform.uow() as uow:
        trial = service.trial_balance(uow=uow)
        overdraft = {a.code for a in uow.session.query(LedgerAccount).filter_by(allow_negative=True)}
    assert trial.balanced, trial
    assert all(balance >= 0 for code, balance in trial.balances.items() if code not in overdraft)


def test_deposit_then_transit_top_up_moves_every_balance(accounts):
    post(accounts, "dep-1", [(CASH, yuan(100)), (CUSTOMER, -yuan(100))], kind="deposit")
    post(accounts, "top-1", [(CUSTOMER, yuan(30)), (FLOAT, -yuan(30))], kind="transit_top_up")
    assert balances(accounts, CASH, CUSTOMER, FLOAT) == [yuan(100), yuan(70), yuan(30)]
    assert_books_consistent(accounts)


def test_an_unbalanced_journal_changes_nothing(accounts):
    with accounts.uow() as uow, pytest.raises(UnbalancedJournal):
        service.post(uow=uow, request_id="bad", kind="deposit", legs=[(CASH, 100), (CUSTOMER, -99)])
    assert balances(accounts, CASH, CUSTOMER) == [0, 0]


def test_the_flush_guard_refuses_an_unbalanced_journal_built_by_hand(accounts):
    with accounts.uow() as uow:
        cash = uow.session.query(LedgerAccount).filter_by(code=CASH).one()
        journal = Journal(request_id="by-hand", kind="x", memo="", fingerprint="-", created_at=uow.now())
        journal.postings = [Posting(account=cash, amount=100)]
        uow.session.add(journal)
        with pytest.raises(UnbalancedJournal):
            uow.session.flush()


def test_journals_are_append_only(accounts):
    post(accounts, "dep-1", [(CASH, 500), (CUSTOMER, -500)])
    with accounts.uow() as uow:
        posting = uow.session.query(Posting).first()
        posting.amount = 400
        with pytest.raises(LedgerIsAppendOnly):
            uow.session.flush()


def test_same_request_id_same_legs_posts_once(accounts):
    first = post(accounts, "dep-7", [(CASH, 500), (CUSTOMER, -500)])
    again = post(accounts, "dep-7", [(CUSTOMER, -500), (CASH, 500)])
    assert again.id == first.id
    assert balances(accounts, CASH, CUSTOMER) == [500, 500]


def test_same_request_id_other_legs_is_refused(accounts):
    post(accounts, "dep-7", [(CASH, 500), (CUSTOMER, -500)])
    with pytest.raises(IdempotencyKeyReused):
        post(accounts, "dep-7", [(CASH, 600), (CUSTOMER, -600)])
    assert balances(accounts, CASH, CUSTOMER) == [500, 500]


def test_a_new_request_id_claimed_wrongly_is_refused_by_the_database_not_posted_twice(accounts):
    post(accounts, "dep-8", [(CASH, 500), (CUSTOMER, -500)])
    with accounts.uow() as uow:  # new_request skips the look-up: the unique request_id still holds
        journal = service.post(uow=uow, request_id="dep-9", kind="test", legs=[(CASH, 5), (CUSTOMER, -5)],
                               new_request=True)
        uow.commit()
    assert journal.request_id == "dep-9"
    with pytest.raises(IntegrityError), accounts.uow() as uow:
        service.post(uow=uow, request_id="dep-8", kind="test", legs=[(CASH, 500), (CUSTOMER, -500)],
                     new_request=True)
        uow.commit()
    assert balances(accounts, CASH, CUSTOMER) == [505, 505]
    assert_books_consistent(accounts)


def test_a_retry_is_answered_even_after_the_balance_was_spent(accounts):
    post(accounts, "dep-1", [(CASH, 500), (CUSTOMER, -500)])
    post(accounts, "pay-1", [(CUSTOMER, 500), (FLOAT, -500)])
    assert post(accounts, "pay-1", [(CUSTOMER, 500), (FLOAT, -500)]).request_id == "pay-1"
    assert balances(accounts, CUSTOMER, FLOAT) == [0, 500]


def test_never_below_zero(accounts):
    post(accounts, "dep-1", [(CASH, 500), (CUSTOMER, -500)])
    with pytest.raises(InsufficientFunds) as refused:
        post(accounts, "pay-1", [(CUSTOMER, 501), (FLOAT, -501)])
    assert refused.value.details == {"shortfall": 1}
    assert "6217001234567890123" not in str(refused.value)
    assert balances(accounts, CUSTOMER, FLOAT) == [500, 0]


def test_the_database_refuses_a_negative_balance_written_around_the_service(accounts):
    with accounts.uow() as uow:
        with pytest.raises(IntegrityError):
            uow.session.execute(update(LedgerAccount).where(LedgerAccount.code == CASH).values(balance=-1))


def test_an_overdraft_account_may_go_negative(accounts):
    with accounts.uow() as uow:
        service.open_account(uow=uow, code="transit:clearing", kind="asset", allow_negative=True)
        uow.commit()
    post(accounts, "clr-1", [(CASH, 300), ("transit:clearing", -300)])
    assert balances(accounts, "transit:clearing", CASH) == [-300, 300]
    with pytest.raises(InsufficientFunds):  # the same move the other way round: cash may not
        post(accounts, "clr-2", [("transit:clearing", 600), (CASH, -600)])
    assert_books_consistent(accounts)


def test_open_account_is_idempotent_but_not_blind(accounts):
    with accounts.uow() as uow:
        assert service.open_account(uow=uow, code=CASH, kind="asset").code == CASH
        with pytest.raises(AccountExists):
            service.open_account(uow=uow, code=CASH, kind="liability")
        with pytest.raises(UnsupportedCurrency):
            service.open_account(uow=uow, code="bank:ICBC:usd", kind="asset", currency="USD")
        with pytest.raises(AccountNotFound):
            service.post(uow=uow, request_id="x", kind="x", legs=[(CASH, 1), ("nowhere", -1)])
        with pytest.raises(InvalidInput):
            service.open_account(uow=uow, code="bank:ICBC:x", kind="savings")
        for request_id, kind, memo in [("", "x", ""), ("r", "", ""), ("r", "k" * 33, ""), ("r", "x", "m" * 257)]:
            with pytest.raises(InvalidInput):
                service.post(uow=uow, request_id=request_id, kind=kind, legs=[(CASH, 1), (CUSTOMER, -1)], memo=memo)


def test_statement_with_running_balance_since_a_date(accounts, clock):
    post(accounts, "dep-1", [(CASH, 1000), (CUSTOMER, -1000)], kind="deposit")
    clock.advance(days=1)
    since = clock.now()
    post(accounts, "pay-1", [(CUSTOMER, 300), (FLOAT, -300)], kind="transit_top_up")
    clock.advance(hours=1)
    post(accounts, "dep-2", [(CASH, 50), (CUSTOMER, -50)], kind="deposit")
    with accounts.uow() as uow:
        whole = service.statement(uow=uow, code=CUSTOMER)
        recent = service.statement(uow=uow, code=CUSTOMER, since=since)
    assert [(line.amount, line.balance_after) for line in whole.lines] == [(1000, 1000), (-300, 700), (50, 750)]
    assert recent.opening_balance == 1000 and recent.closing_balance == 750
    assert [line.request_id for line in recent.lines] == ["pay-1", "dep-2"]
    assert recent.lines[0].at - since < timedelta(seconds=1)


def test_concurrent_posts_on_one_account_lose_no_update(accounts):
    post(accounts, "seed", [(CASH, yuan(1000)), (CUSTOMER, -yuan(1000))])
    errors: list[BaseException] = []

    def spend(worker: int) -> None:
        try:
            for n in range(15):
                post(accounts, f"w{worker}-{n}", [(CUSTOMER, 100 + worker), (FLOAT, -(100 + worker))])
        except BaseException as error:  # reported below, not swallowed
            errors.append(error)

    threads = [threading.Thread(target=spend, args=(worker,)) for worker in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    spent = 15 * 100 + 15 * 101
    assert balances(accounts, CUSTOMER, FLOAT) == [yuan(1000) - spent, spent]
    with accounts.uow() as uow:
        version = uow.session.query(LedgerAccount.version).filter_by(code=FLOAT).scalar()
    assert version == 1 + 30  # every post bumped the version: none overwrote another
    assert_books_consistent(accounts)


# -- random sequences ------------------------------------------------------------------------

CODES = ["a:asset", "b:liability", "c:liability", "d:income", "e:expense", "world"]
KINDS = {"a:asset": "asset", "b:liability": "liability", "c:liability": "liability",
         "d:income": "income", "e:expense": "expense", "world": "equity"}


@st.composite
def journals(draw):
    size = draw(st.integers(2, 4))
    codes = draw(st.lists(st.sampled_from(CODES), min_size=size, max_size=size))
    non_zero = st.builds(lambda fen, credit: -fen if credit else fen, st.integers(1, 5000), st.booleans())
    amounts = draw(st.lists(non_zero, min_size=size - 1, max_size=size - 1))
    last = -sum(amounts)
    if last == 0:  # the balancing leg would be zero: push the first amount away from zero
        push = 1 if amounts[0] > 0 else -1
        amounts[0] += push
        last = -push
    request = draw(st.integers(0, 30))  # small range: retries and reused ids happen
    return f"r{request}", list(zip(codes, [*amounts, last], strict=True))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(journals(), min_size=1, max_size=8))
def test_random_posts_keep_books_balanced(platform, batch):
    with platform.uow() as uow:
        uow.session.execute(text("DELETE FROM ledger_postings"))
        uow.session.execute(text("DELETE FROM ledger_journals"))
        uow.session.execute(text("DELETE FROM ledger_accounts"))
        for code in CODES:
            service.open_account(uow=uow, code=code, kind=KINDS[code], allow_negative=code == "world")
        uow.commit()
    for request_id, legs in batch:
        try:
            post(platform, request_id, legs)
            event("posted")
        except (InsufficientFunds, IdempotencyKeyReused) as refused:
            event(type(refused).__name__)
    with platform.uow() as uow:
        trial = service.trial_balance(uow=uow)
        journal_ids = {j.request_id for j in uow.session.query(Journal)}
    assert trial.balanced, trial  # debits = credits, each cached balance = its postings
    assert all(balance >= 0 for code, balance in trial.balances.items() if code != "world")
    assert journal_ids <= {request_id for request_id, _ in batch}
