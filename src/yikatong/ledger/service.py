"""Ledger use cases. They run inside the caller's unit of work and never commit: a posting
belongs to the business transaction that caused it (a top-up, a withdrawal, a clearing
batch), and the caller audits that transaction.

Concurrency: `post` locks the accounts it touches (SELECT … FOR UPDATE, in code order so
two posts cannot deadlock) before it reads their balances, so concurrent posts to one
account queue instead of overwriting each other. The version column on accounts is the
second line: an update based on a stale read fails with ConcurrentChange. On SQLite every
transaction takes the write lock up front, which serialises posts the same way.

`post(..., late_unchecked=True)` (the medical settlement) locks only the accounts whose
balance it must check — those it takes down that may not go negative — and moves the others
(raised, or allowed negative: a fund's expense pool, an institution's payable) by
`balance = balance + x` in the last statement before COMMIT (`_apply_late`, on the session's
before_commit), so every settlement's shared rows are locked for one statement and the
commit, not from the posting to the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, event, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from yikatong.core.errors import ConcurrentChange, IdempotencyKeyReused
from yikatong.core.money import MAX_BALANCE_FEN, Fen, format_fen
from yikatong.db.statement import RawStatement
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import rules
from yikatong.ledger.errors import (
    AccountExists,
    AccountNotFound,
    BalanceLimitExceeded,
    InsufficientFunds,
)
from yikatong.ledger.models import Journal, LedgerAccount, Posting
from yikatong.ledger.rules import AccountKind, Leg


def open_account(
    *,
    uow: UnitOfWork,
    code: str,
    kind: AccountKind | str,
    allow_negative: bool = False,
    currency: str = rules.CURRENCY,
) -> LedgerAccount:
    """Open an account with a zero balance; opening it again with the same settings returns
    it (so services may open their accounts on first use). Raises AccountExists when it
    exists with another kind or overdraft setting, UnsupportedCurrency unless CNY."""
    rules.check_code(code)
    rules.check_currency(currency)
    kind = rules.account_kind(kind)
    existing = _find(uow, code)
    if existing is not None:
        if existing.kind != kind or existing.allow_negative != allow_negative:
            raise AccountExists()
        return existing
    account = LedgerAccount(code=code, kind=kind.value, currency=currency,
                            allow_negative=allow_negative, balance=0, created_at=uow.now())
    uow.session.add(account)
    uow.session.flush()
    return account


def post(*, uow: UnitOfWork, request_id: str, kind: str, legs: list[Leg], memo: str = "",
         new_request: bool = False, plain: bool = False, late_unchecked: bool = False) -> Journal:
    """Record one balanced journal and move the cached balances; idempotent by request_id.

    The same request_id with the same kind and legs returns the journal already recorded
    (whatever the balances are now); with different ones raises IdempotencyKeyReused.
    Raises InvalidAmount / UnbalancedJournal for bad legs, AccountNotFound,
    InsufficientFunds when an account without `allow_negative` would go below zero, and
    BalanceLimitExceeded when a balance would pass ±MAX_BALANCE_FEN. Nothing changes when it
    raises.

    `new_request`: the caller made `request_id` from a key its transaction has just inserted
    under a unique index (a settlement's new setl_id), so no journal can have it and it is not
    looked up. Were it not so, the journal's unique request_id refuses the insert
    (IntegrityError): never a second journal for one request.

    `plain`: the journal, its postings and the balances written by plain statements (an
    INSERT … RETURNING id, one executemany INSERT of the postings, one executemany UPDATE of
    the balances checked by version and row count) instead of an ORM flush; the same rows.
    The locked accounts in the session take their new balance and version as stored values.
    Returns a Journal that is not in the session (its id and fields; no postings loaded).
    For a hot path (the medical settlement): the ORM flush cost more CPU than the statements.

    `late_unchecked` (with `plain` and `new_request`): the accounts whose balance this posting
    raises, or that may go negative, are neither locked nor updated here: their balances move
    by `balance = balance + x` (bounded by ±MAX_BALANCE_FEN in its WHERE) as the transaction's
    last statement, just before COMMIT (`_apply_late`); only the accounts it takes down that
    may not go negative are locked and checked here, as without it. The journal and postings
    are written here. A bound the late UPDATE finds passed (checked here first against the
    unlocked balance; only concurrent postings in between can pass it) fails the commit with
    BalanceLimitExceeded. Any balance read through this module applies pending late moves
    first; a read of ledger_accounts around this module in the same transaction does not see
    them. Inside a savepoint the moves are made at once (a savepoint's rollback must undo
    them). For a posting whose shared accounts (a fund pool, an institution's payable) every
    concurrent transaction takes: locked from the posting to the commit, they made the
    settlements queue on them.
    """
    checked = rules.validate_legs(legs)
    rules.check_request_id(request_id)
    rules.check_journal_text(kind, memo)
    fingerprint = rules.legs_fingerprint(kind, checked)
    net = rules.net_by_account(checked)
    if late_unchecked and plain and new_request:
        return _post_late(uow, checked, net, request_id=request_id, kind=kind, memo=memo, fingerprint=fingerprint)
    accounts = _lock(uow, sorted(net))
    existing = None if new_request else uow.session.execute(
        select(Journal).where(Journal.request_id == request_id)).scalar_one_or_none()
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused(key=request_id)
        return existing
    new_balances = {}
    for code, amount in net.items():
        account = accounts[code]
        new_balances[code] = account.balance + rules.balance_change(account.kind, amount)
        if new_balances[code] < 0 and not account.allow_negative:
            raise InsufficientFunds(shortfall=-new_balances[code])
        rules.check_balance_bound(new_balances[code])
    if plain:
        return _post_plain(uow, accounts, checked, new_balances, request_id=request_id, kind=kind, memo=memo,
                           fingerprint=fingerprint)
    journal = Journal(request_id=request_id, kind=kind, memo=memo, fingerprint=fingerprint,
                      created_at=uow.now())
    journal.postings = [Posting(account=accounts[code], amount=amount) for code, amount in checked]
    for code, balance in new_balances.items():
        accounts[code].balance = balance
    uow.session.add(journal)
    try:
        uow.session.flush()
    except StaleDataError as error:
        raise ConcurrentChange() from error
    return journal


# `plain` and `late_unchecked` posts' statements, on the connection's own cursor (db.statement:
# no SQLAlchemy execution path per statement)
_JOURNAL_INSERT = RawStatement(insert(Journal.__table__).returning(Journal.__table__.c.id), "JournalInsert",
                               columns=("request_id", "kind", "memo", "fingerprint", "created_at"))
_POSTING_INSERT = RawStatement(insert(Posting.__table__).inline(), "PostingInsert",
                               columns=("journal_id", "account_id", "amount"))
_ACCOUNTS = LedgerAccount.__table__
_BALANCE_UPDATE = RawStatement(
    update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"), _ACCOUNTS.c.version == bindparam("old_version"))
    .values(balance=bindparam("new_balance"), version=bindparam("new_version")), "BalanceUpdate")


def _post_plain(uow: UnitOfWork, accounts: dict[str, LedgerAccount], checked: list[Leg],
                new_balances: dict[str, Fen], *, request_id: str, kind: str, memo: str,
                fingerprint: str) -> Journal:
    """`post`'s writes as plain statements (see `post`, `plain`)."""
    connection, now = uow.connection(), uow.now()
    journal_id = _JOURNAL_INSERT.first(connection, {
        "request_id": request_id, "kind": kind, "memo": memo, "fingerprint": fingerprint,
        "created_at": now}).id
    _POSTING_INSERT.executemany(connection, [{"journal_id": journal_id, "account_id": accounts[code].id,
                                              "amount": amount} for code, amount in checked])
    _store_balances(connection, accounts, new_balances)
    return Journal(id=journal_id, request_id=request_id, kind=kind, memo=memo, fingerprint=fingerprint,
                   created_at=now)


_FACTS_BY_COUNT: dict[int, RawStatement] = {}  # read_accounts' select (not locked) for n codes


def _facts_of(count: int) -> RawStatement:
    """The select of `count` accounts' facts by code, on the connection's own cursor
    (db.statement), its codes bound one by one (`code_0` …): built once per count."""
    found = _FACTS_BY_COUNT.get(count)
    if found is None:
        found = _FACTS_BY_COUNT[count] = RawStatement(
            select(_ACCOUNTS.c.id, _ACCOUNTS.c.code, _ACCOUNTS.c.kind, _ACCOUNTS.c.allow_negative, _ACCOUNTS.c.balance)
            .where(_ACCOUNTS.c.code.in_([bindparam(f"code_{n}") for n in range(count)])), "AccountFacts")
    return found


_LATE_KEY = "yikatong.ledger.late"  # session.info: account id → (code, change) not yet applied
_LATE_UPDATE = RawStatement(
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"),
           (_ACCOUNTS.c.balance + bindparam("change")).between(literal(-MAX_BALANCE_FEN), literal(MAX_BALANCE_FEN)))
    .values(balance=_ACCOUNTS.c.balance + bindparam("change"), version=_ACCOUNTS.c.version + 1), "LateUpdate")


_GUARDED_UPDATE = RawStatement(
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"),
           (_ACCOUNTS.c.balance + bindparam("change")).between(literal(0), literal(MAX_BALANCE_FEN)))
    .values(balance=_ACCOUNTS.c.balance + bindparam("change"), version=_ACCOUNTS.c.version + 1)
    .returning(_ACCOUNTS.c.balance, _ACCOUNTS.c.version), "GuardedUpdate")
_BALANCE_OF = select(_ACCOUNTS.c.balance).where(_ACCOUNTS.c.id == bindparam("account_id"))


_FACTS_KEY = "yikatong.ledger.facts"  # session.info: code → the row `read_accounts` read, this transaction


def read_accounts(*, uow: UnitOfWork, codes: list[str]) -> dict:
    """The accounts among `codes` that exist, by code: selected rows of id, code, kind,
    allow_negative and balance, read without a lock (a balance as of this statement). Kept
    for this transaction: a `late_unchecked` post of these codes takes their ids, kinds and
    overdraft settings (which never change) from here instead of reading them again; its
    checks do not rest on the balance read here (see `post`)."""
    session = uow.session
    if session.new or session.dirty:  # changes pending: written first, as the ORM's read would
        session.flush()
    ordered = sorted(set(codes))
    found = {row.code: row for row in _facts_of(len(ordered)).rows(
        uow.connection(), {f"code_{n}": code for n, code in enumerate(ordered)})}
    session.info.setdefault(_FACTS_KEY, {}).update(found)
    return found


def _post_late(uow: UnitOfWork, checked: list[Leg], net: dict[str, Fen], *, request_id: str, kind: str,
               memo: str, fingerprint: str) -> Journal:
    """`post` with `late_unchecked` (see there): the accounts read unlocked; those it takes
    down that may not go negative locked and checked (one such account: by one conditional
    UPDATE, its lock, check and write at once); then the journal and its postings; the other
    balances' moves left to `_apply_late`."""
    session = uow.session
    _apply_late(session)  # this transaction's earlier late moves: the reads below see them
    facts = session.info.get(_FACTS_KEY, {})
    if not all(code in facts for code in net):
        facts = read_accounts(uow=uow, codes=list(net))
    if not all(code in facts for code in net):
        raise AccountNotFound()
    changes = {code: rules.balance_change(facts[code].kind, amount) for code, amount in net.items()}
    guarded = sorted(code for code, change in changes.items() if change < 0 and not facts[code].allow_negative)
    late = {code: change for code, change in changes.items() if code not in guarded}
    for code, change in late.items():  # against the balance read unlocked: the late UPDATE checks again
        rules.check_balance_bound(facts[code].balance + change)
    connection = uow.connection()
    if len(guarded) == 1:  # the settlement's personal account
        _take_down(session, connection, facts[guarded[0]].id, changes[guarded[0]])
    elif guarded:  # all checked before any is written
        accounts = _lock(uow, guarded)
        new_balances = {code: accounts[code].balance + changes[code] for code in guarded}
        for code in guarded:
            if new_balances[code] < 0:
                raise InsufficientFunds(shortfall=-new_balances[code])
            rules.check_balance_bound(new_balances[code])
        _store_balances(connection, accounts, new_balances)
    now = uow.now()
    journal_id = _JOURNAL_INSERT.first(connection, {
        "request_id": request_id, "kind": kind, "memo": memo, "fingerprint": fingerprint,
        "created_at": now}).id
    _POSTING_INSERT.executemany(connection, [{"journal_id": journal_id, "account_id": facts[code].id,
                                              "amount": amount} for code, amount in checked])
    pending = session.info.setdefault(_LATE_KEY, {})
    for code, change in late.items():
        account_id = facts[code].id
        pending[account_id] = (code, pending.get(account_id, (code, 0))[1] + change)
    if session.in_nested_transaction():  # a savepoint's rollback must take the moves back with it
        _apply_late(session)
    return Journal(id=journal_id, request_id=request_id, kind=kind, memo=memo, fingerprint=fingerprint,
                   created_at=now)


def _take_down(session: Session, connection, account_id: int, change: Fen) -> None:
    """One account lowered by `change` (< 0) if it stays within [0, MAX_BALANCE_FEN]: the
    UPDATE locks, checks and writes; a refusal changed nothing. The session's object of the
    account, if any, takes the new balance and version."""
    moved = _GUARDED_UPDATE.first(connection, {"account_id": account_id, "change": change})
    if moved is None:
        balance = connection.execute(_BALANCE_OF, {"account_id": account_id}).scalar_one()
        if balance + change < 0:
            raise InsufficientFunds(shortfall=-(balance + change))
        rules.check_balance_bound(balance + change)
        raise ConcurrentChange()  # neither: the row changed between the two statements
    held = session.identity_map.get(identity_key(LedgerAccount, account_id))
    if held is not None:
        set_committed_value(held, "balance", moved.balance)
        set_committed_value(held, "version", moved.version)


def _store_balances(connection, accounts: dict[str, LedgerAccount], new_balances: dict[str, Fen]) -> None:
    """The locked accounts' new balances, checked by version; the session's objects take them."""
    moved = _BALANCE_UPDATE.executemany(connection, [
        {"account_id": accounts[code].id, "old_version": accounts[code].version, "new_balance": balance,
         "new_version": accounts[code].version + 1} for code, balance in new_balances.items()])
    if moved != len(new_balances):  # locked above: only a writer outside the lock
        raise ConcurrentChange()
    for code, balance in new_balances.items():
        set_committed_value(accounts[code], "balance", balance)
        set_committed_value(accounts[code], "version", accounts[code].version + 1)


@event.listens_for(Session, "before_commit")
def _apply_late(session: Session) -> None:
    """The late balance moves of this session's transaction (`post`, `late_unchecked`), in
    account code order (the order `_lock` takes), as one executemany UPDATE; an account the
    session holds as an object has its balance and version expired (read again when used)."""
    pending = session.info.pop(_LATE_KEY, None)
    if not pending:
        return
    ordered = sorted(pending.items(), key=lambda item: item[1][0])
    moved = _LATE_UPDATE.executemany(session.connection(), [
        {"account_id": account_id, "change": change} for account_id, (_, change) in ordered])
    if moved != len(ordered):
        raise BalanceLimitExceeded(limit_yuan=format_fen(MAX_BALANCE_FEN))
    for account_id, _ in ordered:
        held = session.identity_map.get(identity_key(LedgerAccount, account_id))
        if held is not None:
            session.expire(held, ["balance", "version"])


@event.listens_for(Session, "after_transaction_end")
def _forget_late(session: Session, transaction) -> None:
    """A transaction's late moves (applied, or rolled back with it) and the accounts it read
    (`read_accounts`) are forgotten at its end."""
    if transaction.parent is None:
        session.info.pop(_LATE_KEY, None)
        session.info.pop(_FACTS_KEY, None)


def balance(*, uow: UnitOfWork, code: str) -> Fen:
    """The account's balance in fen, on its normal side (a deposit is positive)."""
    return _get(uow, code).balance


@dataclass(frozen=True)
class StatementLine:
    journal_id: int
    request_id: str
    kind: str
    memo: str
    at: datetime
    amount: Fen  # how the balance moved: + raises it
    balance_after: Fen


@dataclass(frozen=True)
class Statement:
    code: str
    kind: str
    opening_balance: Fen
    lines: list[StatementLine]
    closing_balance: Fen


def statement(*, uow: UnitOfWork, code: str, since: datetime | None = None) -> Statement:
    """The account's postings (since `since`, if given) with a running balance."""
    account = _get(uow, code)
    sign = rules.normal_sign(account.kind)
    base = (select(Posting.amount, Journal).join(Journal, Journal.id == Posting.journal_id)
            .where(Posting.account_id == account.id))
    opening = 0
    if since is not None:
        before = (select(func.coalesce(func.sum(Posting.amount), 0))
                  .join(Journal, Journal.id == Posting.journal_id)
                  .where(Posting.account_id == account.id, Journal.created_at < since))
        opening = sign * uow.session.execute(before).scalar_one()
        base = base.where(Journal.created_at >= since)
    running, lines = opening, []
    for amount, journal in uow.session.execute(base.order_by(Posting.id)):
        running += sign * amount
        lines.append(StatementLine(journal.id, journal.request_id, journal.kind, journal.memo,
                                   journal.created_at, sign * amount, running))
    return Statement(code, account.kind, opening, lines, running)


@dataclass(frozen=True)
class TrialBalance:
    total_debits: Fen
    total_credits: Fen  # as a positive number
    balances: dict[str, Fen]  # code → cached balance
    mismatched: list[str]  # codes whose cached balance differs from their postings

    @property
    def balanced(self) -> bool:
        return self.total_debits == self.total_credits and not self.mismatched


def trial_balance(*, uow: UnitOfWork) -> TrialBalance:
    """Debits equal credits over all postings, and each cached balance equals its postings."""
    _apply_late(uow.session)
    debits = uow.session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.amount > 0)).scalar_one()
    credits = -uow.session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.amount < 0)).scalar_one()
    sums = dict(uow.session.execute(
        select(Posting.account_id, func.sum(Posting.amount)).group_by(Posting.account_id)).all())
    balances, mismatched = {}, []
    for account in uow.session.execute(select(LedgerAccount).order_by(LedgerAccount.code)).scalars():
        balances[account.code] = account.balance
        if account.balance != rules.normal_sign(account.kind) * sums.get(account.id, 0):
            mismatched.append(account.code)
    return TrialBalance(debits, credits, balances, mismatched)


_FIND = select(LedgerAccount).where(LedgerAccount.code == bindparam("code"))  # built once


def _find(uow: UnitOfWork, code: str) -> LedgerAccount | None:
    _apply_late(uow.session)  # a balance read sees this transaction's late moves
    return uow.session.execute(_FIND, {"code": code}).scalar_one_or_none()


def _get(uow: UnitOfWork, code: str) -> LedgerAccount:
    account = _find(uow, code)
    if account is None:
        raise AccountNotFound()
    return account


_LOCK = (select(LedgerAccount).where(LedgerAccount.code.in_(bindparam("codes", expanding=True)))
         .order_by(LedgerAccount.code).with_for_update()
         .execution_options(populate_existing=True))  # built once: building costs more than running


def _lock(uow: UnitOfWork, codes: list[str]) -> dict[str, LedgerAccount]:
    """The accounts, locked for this transaction and freshly read (not from the identity map)."""
    _apply_late(uow.session)
    found = uow.session.execute(_LOCK, {"codes": list(codes)}).scalars().all()
    accounts = {account.code: account for account in found}
    if len(accounts) != len(codes):
        raise AccountNotFound()
    return accounts
