"""`UnitOfWork.audit(new_entity=True)`: a chain begun without looking up a previous record
(the entity's row was just inserted under a fresh unique key) is the same chain the look-up
would have made, and a wrong claim fails the change instead of forking the chain."""

from __future__ import annotations

import pytest

from tests.audit import helpers
from yikatong.audit import service
from yikatong.audit.rules import GENESIS, first_broken_link
from yikatong.core.errors import ConcurrentChange
from yikatong.crypto.protocols import KeyStore

pytestmark = pytest.mark.db


def test_a_chain_begun_as_new_is_the_chain_the_look_up_makes_and_verifies(platform):
    with platform.uow() as uow:
        first = uow.audit(actor=helpers.ACTOR, action="card.change", entity_type="card",
                          entity_id="N1", after={"state": "new"}, new_entity=True)
        uow.commit()
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    helpers.write(platform, "N1", "active", "lost")  # later records look the head up as ever
    with platform.engine.connect() as connection:
        records = helpers.chain(connection, "N1")
    assert [r["seq"] for r in records] == [1, 2, 3] and first_broken_link(records) is None
    with platform.uow() as uow:
        assert service.verify_trail(uow=uow, keys=platform.get(KeyStore)).ok


def test_claiming_new_for_an_entity_with_records_fails_and_leaves_its_chain_whole(platform):
    helpers.write(platform, "N2", "new", "active")
    with pytest.raises(ConcurrentChange), platform.uow() as uow:
        uow.audit(actor=helpers.ACTOR, action="card.change", entity_type="card", entity_id="N2",
                  after={"state": "forked"}, new_entity=True)
        uow.commit()
    with platform.engine.connect() as connection:
        records = helpers.chain(connection, "N2")
    assert [r["after"]["state"] for r in records] == ["new", "active"]
    assert first_broken_link(records) is None
