"""Reading the trail for the card centre's page: the search's filters and pages, and the
checkpoint a verification of the records shown starts from."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.audit import helpers
from yikatong.audit import service
from yikatong.audit.jobs import take_checkpoint, verify_and_record
from yikatong.audit.models import AuditRecord
from yikatong.audit.service import RecordSearch
from yikatong.core.actor import Actor, Channel, Role

pytestmark = pytest.mark.db


def search(platform, page=1, per_page=50, **wanted):
    with platform.uow(read_only=True) as uow:
        return service.search_records(uow=uow, search=RecordSearch(**wanted), page=page, per_page=per_page)


def test_every_filter_narrows_and_the_newest_come_first(platform, clock):
    first = helpers.write(platform, "C1", "a", "b")
    clock.advance(days=1)
    later = helpers.write(platform, "C1", "c")
    helpers.write(platform, "P1", "x", entity_type="person")
    found = search(platform, entity_type="card", entity_id="C1")
    assert [r.id for r in found.records] == later + first[::-1]
    assert [r.entity_id for r in search(platform, entity_type="person").records] == ["P1"]
    assert len(search(platform, actor_id="test", action="card.change").records) == 4
    assert search(platform, actor_id="somebody else").records == []
    cut = clock.now() - timedelta(hours=1)
    assert [r.id for r in search(platform, entity_id="C1", since=cut).records] == later
    assert [r.id for r in search(platform, entity_id="C1", until=cut).records] == first[::-1]


def test_pages_follow_each_other_without_counting_the_trail(platform):
    ids = helpers.write(platform, "C2", *"abcde")
    one = search(platform, per_page=2, entity_id="C2")
    two = search(platform, page=2, per_page=2, entity_id="C2")
    three = search(platform, page=3, per_page=2, entity_id="C2")
    assert [r.id for r in one.records + two.records + three.records] == ids[::-1]
    assert (one.has_next, two.has_next, three.has_next) == (True, True, False)
    assert three.lowest_id == ids[0]
    assert search(platform, per_page=10_000).per_page == service.MAX_PAGE_SIZE


def test_a_verification_of_the_shown_range_starts_before_its_oldest_record(platform):
    early = helpers.write(platform, "C3", "a")
    take_checkpoint(platform)  # checkpoint 1 ends at `early`
    late = helpers.write(platform, "C3", "b")
    with platform.uow(read_only=True) as uow:
        assert service.checkpoint_before(uow=uow, record_id=early[0]) is None
        assert service.checkpoint_before(uow=uow, record_id=late[0]) == 1
    admin = Actor(user_id="centre-admin", role=Role.ADMIN, channel=Channel.SYSTEM)
    report, verification = verify_and_record(platform, from_checkpoint=1, triggered_by="page:centre-admin",
                                             actor=admin)
    assert report.ok and verification.from_checkpoint == 1 and report.records >= 1
    with platform.uow(read_only=True) as uow:
        asked = uow.session.query(AuditRecord).filter_by(action="audit.verify").one()
    assert (asked.actor_id, asked.entity_id) == ("centre-admin", str(verification.id))
    assert asked.after["ok"] is True
