"""`UnitOfWork.audit(insert_now=True, hold=True)`: the record is made at once and written with
the next `insert_beside_audit` (on PostgreSQL by the same statement), else before any chain's
head is read, else at commit; it is the record `insert_now` writes, it is never written after
its transaction rolled back, and a wrong `new_entity` claim still collides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.audit import helpers
from yikatong.audit.rules import GENESIS, first_broken_link
from yikatong.core.errors import ConcurrentChange
from yikatong.db.idempotency import IdempotencyRecord
from yikatong.db.uow import BesideAudit, is_audit_collision

pytestmark = pytest.mark.db

SAME = ("actor_id", "role", "channel", "action", "entity_type", "seq", "before", "after", "reason", "prev_hash")
BESIDE = BesideAudit(IdempotencyRecord.__table__, "TestBesideInsert",
                     columns=("scope", "key", "request_hash", "response", "created_at"))


def _record(uow, entity_id: str, *, hold: bool, new_entity: bool = True):
    return uow.audit(actor=helpers.ACTOR, action="card.change", entity_type="card", entity_id=entity_id,
                     before={"state": "new", "name": "张三"}, after={"state": "active", "ssn": "320400199001011234"},
                     reason="because", new_entity=new_entity, insert_now=True, hold=hold)


def _row(key: str) -> dict:
    return {"scope": "test-beside", "key": key, "request_hash": "h", "response": {"ok": True},
            "created_at": datetime(2026, 12, 5, tzinfo=UTC)}


def _keys(platform) -> list[str]:
    with platform.engine.connect() as connection:
        return sorted(connection.execute(select(IdempotencyRecord.key)
                                         .where(IdempotencyRecord.scope == "test-beside")).scalars())


def test_a_held_record_is_written_with_the_insert_beside_it_as_insert_now_writes_it(platform):
    with platform.uow() as uow:
        assert _record(uow, "H1", hold=True) is None
        _record(uow, "N1", hold=False)
        assert helpers.chain(uow.connection(), "H1") == []  # held, not written yet
        uow.insert_beside_audit(BESIDE, _row("k1"))
        uow.commit()
    with platform.engine.connect() as connection:
        held, now = helpers.chain(connection, "H1"), helpers.chain(connection, "N1")
    assert len(held) == 1 and {n: held[0][n] for n in SAME} == {n: now[0][n] for n in SAME}
    assert (held[0]["seq"], held[0]["prev_hash"]) == (1, GENESIS) and first_broken_link(held) is None
    assert _keys(platform) == ["k1"]


def test_held_records_are_written_before_a_chain_is_read_and_at_commit(platform):
    with platform.uow() as uow:
        _record(uow, "H2", hold=True)
        _record(uow, "H2", hold=False, new_entity=False)  # reads the head: the held record first
        _record(uow, "H3", hold=True)  # taken by nothing: written at commit
        uow.commit()
    with platform.engine.connect() as connection:
        second, third = helpers.chain(connection, "H2"), helpers.chain(connection, "H3")
    assert [r["seq"] for r in second] == [1, 2] and first_broken_link(second) is None
    assert [r["seq"] for r in third] == [1]


def test_a_held_record_is_never_written_after_its_transaction_rolled_back(platform):
    with platform.uow() as uow:
        _record(uow, "H4", hold=True)
        uow.session.rollback()
        uow.insert_beside_audit(BESIDE, _row("k4"))
        _record(uow, "H5", hold=True)
        uow.commit()
    with platform.engine.connect() as connection:
        assert helpers.chain(connection, "H4") == [] and len(helpers.chain(connection, "H5")) == 1
    assert _keys(platform) == ["k4"]


def test_a_wrong_new_claim_held_still_collides_and_nothing_of_it_stays(platform):
    helpers.write(platform, "H6", "new")
    with pytest.raises(IntegrityError) as raised, platform.uow() as uow:
        _record(uow, "H6", hold=True)
        uow.insert_beside_audit(BESIDE, _row("k6"))
    assert is_audit_collision(raised.value)
    with pytest.raises(ConcurrentChange), platform.uow() as uow:
        _record(uow, "H6", hold=True)
        uow.commit()  # written here: the collision is the commit's ConcurrentChange
    with platform.engine.connect() as connection:
        records = helpers.chain(connection, "H6")
    assert [r["after"]["state"] for r in records] == ["new"] and _keys(platform) == []
