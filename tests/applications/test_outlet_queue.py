"""The outlet's work queue: each outlet sees the applications waiting for its own counter."""

from __future__ import annotations

import dataclasses

import pytest

from tests.applications.conftest import ADMIN, OUTLET
from yikatong.applications import production, service
from yikatong.applications.protocols import CardFactory
from yikatong.core.actor import Actor, Channel, Role

pytestmark = pytest.mark.db

OTHER_OUTLET = dataclasses.replace(OUTLET, user_id="outlet-2", branch_code="SS-WJ-01")


def queue_ids(platform, actor) -> list[int]:
    with platform.uow(read_only=True) as uow:
        return [app.id for app in service.outlet_queue(uow=uow, actor=actor)]


def test_an_outlet_sees_its_decisions_and_its_pickups_only(platform, apply):
    waiting = apply()
    elsewhere = apply(actor=OTHER_OUTLET)
    to_collect = apply(actor=OTHER_OUTLET)  # taken elsewhere, collected here (pickup())
    with platform.uow() as uow:
        service.approve(uow=uow, actor=OTHER_OUTLET, application_id=to_collect.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))

    assert queue_ids(platform, OUTLET) == [waiting.id, to_collect.id]
    assert queue_ids(platform, OTHER_OUTLET) == [elsewhere.id]


def test_a_decided_application_leaves_the_queue(platform, apply):
    app = apply()
    with platform.uow() as uow:
        service.reject(uow=uow, actor=OUTLET, application_id=app.id, reason="照片不符")
    assert app.id not in queue_ids(platform, OUTLET)


def test_no_outlet_or_no_sight_of_applications_means_an_empty_queue(platform, apply):
    app = apply()
    citizen_outlet = Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                           branch_code="SS-TN-01")
    assert queue_ids(platform, OUTLET) == [app.id]
    assert queue_ids(platform, dataclasses.replace(OUTLET, branch_code=None)) == []
    assert queue_ids(platform, citizen_outlet) == []
