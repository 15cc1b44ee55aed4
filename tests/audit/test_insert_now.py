"""`UnitOfWork.audit(insert_now=True)`: the record written at once by a plain INSERT is the
record the ORM path writes (same fields, masking, hash and chain), mixes with ORM-written
records in one chain, and a wrong `new_entity` claim still cannot fork a chain."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from tests.audit import helpers
from yikatong.audit import service
from yikatong.audit.rules import GENESIS, first_broken_link
from yikatong.crypto.protocols import KeyStore
from yikatong.db.uow import is_audit_collision

pytestmark = pytest.mark.db

SAME = ("at", "actor_id", "role", "channel", "action", "entity_type", "seq", "before", "after",
        "reason", "prev_hash")


def _record(uow, entity_id: str, *, insert_now: bool, new_entity: bool = False):
    return uow.audit(actor=helpers.ACTOR, action="card.change", entity_type="card", entity_id=entity_id,
                     before={"state": "new", "name": "张三"}, after={"state": "active", "ssn": "320400199001011234"},
                     reason="because", new_entity=new_entity, insert_now=insert_now)


def test_a_record_inserted_now_is_the_record_the_orm_writes(platform):
    with platform.uow() as uow:
        assert _record(uow, "P1", insert_now=True) is None
        _record(uow, "O1", insert_now=False)
        uow.commit()
    with platform.engine.connect() as connection:
        plain, orm = helpers.chain(connection, "P1")[0], helpers.chain(connection, "O1")[0]
    assert {name: plain[name] for name in SAME} == {name: orm[name] for name in SAME}
    assert (plain["seq"], plain["prev_hash"]) == (1, GENESIS)
    assert plain["before"] != {"state": "new", "name": "张三"}  # personal data masked as ever
    assert plain["after"] != {"state": "active", "ssn": "320400199001011234"}


def test_records_inserted_now_and_flushed_later_make_one_chain_that_verifies(platform):
    with platform.uow() as uow:
        _record(uow, "M1", insert_now=True, new_entity=True)
        _record(uow, "M1", insert_now=False)  # looks the head up: the row inserted above
        uow.commit()
    with platform.uow() as uow:
        _record(uow, "M1", insert_now=True)
        uow.commit()
    helpers.write(platform, "M1", "lost")
    with platform.engine.connect() as connection:
        records = helpers.chain(connection, "M1")
    assert [r["seq"] for r in records] == [1, 2, 3, 4] and first_broken_link(records) is None
    with platform.uow() as uow:
        assert service.verify_trail(uow=uow, keys=platform.get(KeyStore)).ok


def test_a_wrong_new_claim_inserted_now_collides_at_once_and_leaves_the_chain_whole(platform):
    helpers.write(platform, "M2", "new", "active")
    with pytest.raises(IntegrityError) as raised, platform.uow() as uow:
        _record(uow, "M2", insert_now=True, new_entity=True)
    assert is_audit_collision(raised.value)
    with platform.engine.connect() as connection:
        records = helpers.chain(connection, "M2")
    assert [r["after"]["state"] for r in records] == ["new", "active"] and first_broken_link(records) is None
