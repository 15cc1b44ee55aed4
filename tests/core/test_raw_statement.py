"""db.statement.RawStatement (a statement on the connection's own DBAPI cursor, compiled once)
writes and reads what SQLAlchemy's own execution of the same statement writes and reads: the
same stored values (datetimes, JSON, a JSON None as JSON null, booleans), RETURNING rows, the
statement's own literal values, executemany's row count, and a unique violation raised as
SQLAlchemy's IntegrityError (what the callers catch), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from yikatong.db.idempotency import IdempotencyRecord
from yikatong.db.statement import RawStatement
from yikatong.ledger.models import LedgerAccount

pytestmark = pytest.mark.db

RECORDS = IdempotencyRecord.__table__
ACCOUNTS = LedgerAccount.__table__
COLUMNS = ("scope", "key", "request_hash", "response", "created_at")
AT = datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)


def _stored(uow, scope: str) -> list:
    return uow.session.execute(select(RECORDS).where(RECORDS.c.scope == scope).order_by(RECORDS.c.key)).all()


def test_an_insert_stores_what_sqlalchemy_stores(platform):
    raw = RawStatement(insert(RECORDS).returning(RECORDS.c.id), "Returned", columns=COLUMNS)
    row = {"request_hash": "h", "created_at": AT}
    with platform.uow() as uow:
        core_id = uow.connection().execute(insert(RECORDS).returning(RECORDS.c.id), {
            **row, "scope": "core", "key": "k", "response": {"a": [1, "二"], "b": None}}).scalar_one()
        raw_id = raw.first(uow.connection(), {**row, "scope": "raw", "key": "k",
                                              "response": {"a": [1, "二"], "b": None}}).id
        assert raw_id != core_id
        for scope in ("core", "raw"):  # None in a JSON column: JSON null, as SQLAlchemy writes it
            uow.connection().execute(insert(RECORDS), {**row, "scope": scope + "-none", "key": "k", "response": None})
        RawStatement(insert(RECORDS).inline(), "NoneJson", columns=COLUMNS).execute(
            uow.connection(), {**row, "scope": "raw-none", "key": "k2", "response": None})
        uow.commit()
    with platform.uow() as uow:
        core, raw_row = _stored(uow, "core")[0], _stored(uow, "raw")[0]
        assert (raw_row.response, raw_row.created_at, raw_row.request_hash) == \
            (core.response, core.created_at, core.request_hash) == ({"a": [1, "二"], "b": None}, AT, "h")
        nulls = uow.session.execute(select(RECORDS.c.scope).where(RECORDS.c.response.is_(None))).all()
        assert nulls == []  # neither way stored an SQL NULL


def test_a_unique_violation_is_sqlalchemys_integrity_error(platform):
    raw = RawStatement(insert(RECORDS).inline(), "Nonce", columns=COLUMNS)
    values = {"scope": "nonce", "key": "same", "request_hash": "h", "response": {}, "created_at": AT}
    with platform.uow() as uow:
        raw.execute(uow.connection(), values)
        with pytest.raises(IntegrityError):
            raw.execute(uow.connection(), values)


def test_updates_count_rows_and_keep_their_literals(platform):
    with platform.uow() as uow:
        ids = [uow.connection().execute(insert(ACCOUNTS).returning(ACCOUNTS.c.id), {
            "code": f"test:raw:{n}", "kind": "asset", "currency": "CNY", "allow_negative": n == 0,
            "balance": 100, "created_at": AT, "version": 1}).scalar_one() for n in range(3)]
        bounded = RawStatement(  # `literal`s are the statement's own parameters
            update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id"),
                                   (ACCOUNTS.c.balance + bindparam("change")).between(literal(0), literal(150)))
            .values(balance=ACCOUNTS.c.balance + bindparam("change"), version=ACCOUNTS.c.version + 1), "Bounded")
        assert bounded.executemany(uow.connection(), [{"account_id": i, "change": 40} for i in ids]) == 3
        assert bounded.executemany(uow.connection(), [{"account_id": i, "change": 20} for i in ids]) == 0
        assert bounded.execute(uow.connection(), {"account_id": ids[0], "change": -140}) == 1
        returned = RawStatement(select(ACCOUNTS.c.code, ACCOUNTS.c.allow_negative, ACCOUNTS.c.balance,
                                       ACCOUNTS.c.version).where(ACCOUNTS.c.id == bindparam("account_id")), "Read")
        assert returned.first(uow.connection(), {"account_id": ids[0]}) == ("test:raw:0", True, 0, 3)
        assert returned.first(uow.connection(), {"account_id": ids[1]}).allow_negative is False
        assert returned.first(uow.connection(), {"account_id": -1}) is None
