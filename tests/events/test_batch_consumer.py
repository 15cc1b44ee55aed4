"""Durable consumers that apply a fetch of events in one transaction (events.nats,
batch_handler): each event still applied exactly once and in order, also when one of them
fails (the batch is applied again one by one, the bad event retried with nothing behind it
applied meanwhile) and when the consumer stops while it keeps failing."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.events.helpers import emit, wait_for_count, wait_until
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.inbox import InboxRecord, consume_all_once, consume_once
from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import Event

pytestmark = [pytest.mark.nats, pytest.mark.db]

CONSUMER = "bank:ICBC"


class Partner:
    """A consumer whose effect is committed with its inbox row: it writes an `applied`
    outbox row per event (so a double application would show as two rows). `poisoned` names
    event numbers whose application raises while they are in it."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.poisoned: dict[int, int] = {}  # number -> failures left (-1: until removed)
        self.lock = threading.Lock()

    def apply(self, uow, event) -> None:
        number = event.payload["n"]
        with self.lock:
            left = self.poisoned.get(number, 0)
            if left:
                self.poisoned[number] = left - 1 if left > 0 else left
                raise RuntimeError(f"the partner's database refused event {number}")
        uow.emit("test.applied", aggregate_type="test", aggregate_id=event.event_id,
                 payload={"n": number})

    def one(self, event) -> None:
        with self.platform.uow() as uow:
            if consume_once(uow, CONSUMER, event, self.apply):
                uow.commit()

    def batch(self, events) -> None:
        with self.platform.uow() as uow:
            consume_all_once(uow, CONSUMER, events, self.apply)
            uow.commit()

    def applied(self) -> list[int]:
        """Committed applications, in the order they were committed. Read-only: the tests poll
        this, and on SQLite a writing unit of work would queue for the write lock with the
        consumer it is waiting for."""
        with self.platform.uow(read_only=True) as uow:
            rows = uow.session.execute(select(OutboxEvent).where(OutboxEvent.type == "test.applied")
                                       .order_by(OutboxEvent.seq)).scalars()
            return [row.payload["n"] for row in rows]

    def applied_count(self) -> int:
        with self.platform.uow(read_only=True) as uow:
            return uow.session.query(OutboxEvent).filter_by(type="test.applied").count()

    def inbox(self) -> int:
        with self.platform.uow(read_only=True) as uow:
            return uow.session.query(InboxRecord).filter_by(consumer=CONSUMER).count()


def backlog(platform, bus, count: int) -> None:
    """`count` events for five cards, published before the partner's consumer starts."""
    emit(platform, [("card.status_changed", f"62170020{n % 5:02d}", "ICBC") for n in range(count)])
    assert dispatch_pending(platform, bus) == count


def subscribe(bus, partner: Partner, batch_size: int):
    return bus.subscribe_partner("ICBC", "bank", partner.one, batch_handler=partner.batch,
                                 batch_size=batch_size, redelivery_base_seconds=0.05,
                                 filter_subject=f"{bus.namespace}.bank.icbc.*.card.>")


def test_a_backlog_is_applied_in_batches_once_each_in_order(quiet_platform, bus):
    backlog(quiet_platform, bus, 120)
    partner = Partner(quiet_platform)
    subscription = subscribe(bus, partner, batch_size=50)
    wait_for_count(partner.applied_count, 120, what="applied events")
    assert partner.applied() == list(range(120))
    assert partner.inbox() == 120
    assert subscription.batches >= 3 and subscription.failures == 0


def test_a_failing_event_costs_its_batch_nothing_and_is_applied_once_when_it_passes(quiet_platform, bus):
    backlog(quiet_platform, bus, 30)
    partner = Partner(quiet_platform)
    partner.poisoned[12] = 2  # fails twice, then goes through
    subscription = subscribe(bus, partner, batch_size=30)
    wait_for_count(partner.applied_count, 30, what="30 applied events")
    assert partner.applied() == list(range(30))  # each once, 12 in its place
    assert partner.inbox() == 30
    assert subscription.failures == 1  # it failed the batch, then once on its own


def test_a_consumer_stopped_while_an_event_keeps_failing_hands_the_rest_to_the_next(quiet_platform, bus):
    backlog(quiet_platform, bus, 30)
    partner = Partner(quiet_platform)
    partner.poisoned[12] = -1  # until the partner is fixed
    subscription = subscribe(bus, partner, batch_size=30)
    wait_until(lambda: subscription.failures >= 2, what="event 12 retried")
    assert partner.applied() == list(range(12))  # the ones before it, once; none behind it
    subscription.stop()

    partner.poisoned.clear()  # fixed; a new process takes over from the durable position
    subscribe(bus, partner, batch_size=30)
    wait_for_count(partner.applied_count, 30, what="the rest applied")
    assert partner.applied() == list(range(30))
    assert partner.inbox() == 30


def test_a_consumer_made_one_at_a_time_by_an_earlier_release_takes_batches(quiet_platform, bus):
    partner = Partner(quiet_platform)
    earlier = bus.subscribe_partner("ICBC", "bank", partner.one,  # max_ack_pending=1
                                    filter_subject=f"{bus.namespace}.bank.icbc.*.card.>")
    backlog(quiet_platform, bus, 5)
    wait_for_count(partner.applied_count, 5, what="the first five, one at a time")
    earlier.stop()

    backlog_after = 60
    emit(quiet_platform, [("card.status_changed", "6217002100", "ICBC")] * backlog_after)
    dispatch_pending(quiet_platform, bus)
    upgraded = subscribe(bus, partner, batch_size=30)
    wait_for_count(partner.applied_count, 5 + backlog_after, what="the backlog")
    assert partner.applied() == list(range(5)) + list(range(backlog_after))
    assert upgraded.batches >= 2


@pytest.mark.parametrize("waiting_already", [True, False])
def test_a_lone_event_is_not_held_back_for_a_batch_to_fill(quiet_platform, bus, waiting_already):
    # One event, waiting when the consumer asks or coming while it waits: a fetch of 200
    # returned only with 200 or at the end of the poll interval.
    if waiting_already:
        backlog(quiet_platform, bus, 1)
    partner = Partner(quiet_platform)
    bus.subscribe_partner("ICBC", "bank", partner.one, batch_handler=partner.batch, batch_size=200,
                          poll_seconds=60.0, filter_subject=f"{bus.namespace}.bank.icbc.*.card.>")
    if not waiting_already:
        time.sleep(1)  # the consumer is waiting for work
        backlog(quiet_platform, bus, 1)
    wait_until(lambda: partner.applied() == [0], timeout=10.0,  # far below the 60 s poll
               what="the lone event applied")


@pytest.mark.db
def test_a_batch_claims_with_one_statement_and_skips_what_was_applied_before(quiet_platform):
    partner = Partner(quiet_platform)
    events = [Event(event_id=str(uuid.uuid4()), type="card.status_changed", aggregate_type="card",
                    aggregate_id="6217002000", partner="ICBC", payload={"n": n},
                    occurred_at=datetime(2026, 3, 2, tzinfo=UTC), seq=n + 1) for n in range(4)]
    partner.one(events[1])  # applied before, one at a time
    with quiet_platform.uow() as uow:
        applied = consume_all_once(uow, CONSUMER, [*events, events[2]], partner.apply)  # 2 twice
        uow.commit()
    assert applied == 3
    assert sorted(partner.applied()) == [0, 1, 2, 3]
    assert partner.inbox() == 4
