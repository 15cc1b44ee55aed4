"""The versioned deny list: every change a new version, deltas since a version, the push event,
and a validator's offline copy kept in step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.transit.conftest import SYSTEM
from yikatong.events.models import OutboxEvent
from yikatong.transit import deny_list
from yikatong.transit.deny_list import DenyReason
from yikatong.transit.validator import DenyList

pytestmark = pytest.mark.db
A, B, C = "03104000000000000101", "03104000000000000102", "03104000000000000103"


def change(platform, action, asn, reason=DenyReason.TAC_FAILED):
    with platform.uow() as uow:
        if action == "add":
            version = deny_list.add(uow=uow, asn=asn, reason=reason, actor=SYSTEM)
        else:
            version = deny_list.remove(uow=uow, asn=asn, reason="terminal fault", actor=SYSTEM)
        uow.commit()
    return version


def since(platform, version):
    with platform.uow() as uow:
        return deny_list.changes_since(uow=uow, since=version)


def test_versions_deltas_and_the_push(platform):
    assert [change(platform, "add", A), change(platform, "add", B), change(platform, "add", A)] == [1, 2, None]
    assert change(platform, "remove", A) == 3
    assert change(platform, "remove", C) is None
    assert change(platform, "add", C, DenyReason.WALLET_REFUNDED) == 4
    full = since(platform, 0)
    assert (full.version, full.added, full.complete) == (4, [B, C], True)
    delta = since(platform, 2)
    assert (delta.added, delta.removed, delta.complete) == ([C], [A], False)
    assert since(platform, 4).added == [] and since(platform, 4).version == 4
    assert since(platform, 99).complete  # a version from another database: start over
    with platform.uow() as uow:
        pushed = [e.payload for e in uow.session.execute(
            select(OutboxEvent).where(OutboxEvent.type == deny_list.EVENT).order_by(OutboxEvent.seq)).scalars()]
        assert deny_list.is_listed(uow=uow, asn=B) and not deny_list.is_listed(uow=uow, asn=A)
    assert [(p["version"], p["asn"], p["action"]) for p in pushed] == [(1, A, "add"), (2, B, "add"), (3, A, "remove"),
                                                                      (4, C, "add")]


def test_a_validator_follows_the_deltas(platform):
    offline = DenyList()
    change(platform, "add", A)
    change(platform, "add", B)
    first = since(platform, offline.version)
    offline.apply(version=first.version, added=first.added, removed=first.removed, complete=first.complete)
    assert offline.asns == {A, B} and offline.version == 2
    change(platform, "remove", B)
    change(platform, "add", C)
    delta = since(platform, offline.version)
    offline.apply(version=delta.version, added=delta.added, removed=delta.removed, complete=delta.complete)
    assert offline.asns == {A, C} and offline.version == 4
    assert B not in offline and A in offline
