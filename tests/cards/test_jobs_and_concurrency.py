"""The automatic unblock job, and two writers on one card: exactly one wins."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.cards.conftest import ADMIN, PHONE, act, audits_of, card_in_use, events_of, read
from tests.conftest import ONLY_ON_POSTGRES, wait_for_a_lock_wait
from yikatong.cards import jobs, service
from yikatong.cards.models import Card
from yikatong.core.errors import ConcurrentChange
from yikatong.events.bus import InProcessBus
from yikatong.events.protocols import EventBus
from yikatong.worker.runner import all_jobs, run_once

pytestmark = pytest.mark.db


def test_the_job_persists_and_emits_the_automatic_unblock_in_one_run(platform, clock):
    card_no = card_in_use(platform, person_id=1)
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    reported_at = clock.now()
    clock.advance(hours=167, minutes=59)
    assert jobs.expire_temporary_losses(platform) == 0
    clock.advance(minutes=1, seconds=5)
    results = run_once(platform)  # everything `ykt worker` runs, once
    assert results["cards.expire_temporary_losses"] == 1
    [block] = [b for b in _blocks(platform, card_no)]
    assert (block.lifted_at, block.lift_reason, block.lifted_by_role) == (
        reported_at + timedelta(hours=168), "expired", "system")
    expired = [e for e in events_of(platform, card_no) if e.type == "card.temporary_loss_expired"]
    changed = [e for e in events_of(platform, card_no) if e.type == "card.hr_status_changed"]
    assert len(expired) == 1 and expired[0].published_at is not None
    assert (changed[-1].payload["before"], changed[-1].payload["after"]) == ("temporary_loss",
                                                                            "normal")
    assert changed[-1].partner == "ICBC"
    delivered = [e.type for e in platform.get(EventBus).delivered]
    assert "card.temporary_loss_expired" in delivered
    assert audits_of(platform, card_no)[-1].action == "card.temporary_loss_expired"
    assert jobs.expire_temporary_losses(platform) == 0  # nothing twice


@pytest.mark.no_db
def test_the_jobs_run_often_enough(platform):
    cards_jobs = [job for job in all_jobs() if job.name.startswith("cards.")]
    assert cards_jobs and all(job.every_seconds <= 30 for job in cards_jobs)
    assert isinstance(platform.get(EventBus), InProcessBus)


def _blocks(platform, card_no):
    with platform.uow() as uow:
        return service.card_blocks(uow=uow, card_no=card_no)


def test_two_outlets_acting_on_the_same_card_version(platform):
    """Both counters show version v; the first to act wins, the second gets 409."""
    card_no = card_in_use(platform, person_id=2)
    seen = read(platform, card_no).version
    act(platform, service.report_loss, actor=PHONE, card_no=card_no, kind="temporary",
        expected_version=seen)
    with pytest.raises(ConcurrentChange) as lost:
        act(platform, service.freeze, actor=ADMIN, card_no=card_no, reason_code="check",
            expected_version=seen)
    assert lost.value.code == "concurrent_change" and lost.value.http_status == 409
    assert read(platform, card_no).hr_status == "temporary_loss"


@ONLY_ON_POSTGRES
def test_two_sessions_interleaved_exactly_one_wins(platform):
    card_no = card_in_use(platform, person_id=3)
    first, second = platform.uow(), platform.uow()
    with first, second:
        # Both load the same version (held here: the session's identity map is weak).
        loaded = [uow.session.execute(select(Card).where(Card.card_no == card_no)).scalar_one()
                  for uow in (first, second)]
        assert loaded[0].version == loaded[1].version
        service.report_loss(uow=first, actor=PHONE, card_no=card_no, kind="temporary")
        outcome = {}

        def second_writer():
            try:
                service.freeze(uow=second, actor=ADMIN, card_no=card_no, reason_code="check")
                second.commit()
                outcome["second"] = "won"
            except ConcurrentChange as error:
                outcome["second"] = error.code

        thread = threading.Thread(target=second_writer)
        thread.start()
        wait_for_a_lock_wait(platform)  # the second is at the row lock, until the first commits
        first.commit()
        thread.join(timeout=30)
    assert outcome == {"second": "concurrent_change"}
    assert read(platform, card_no).hr_status == "temporary_loss"
