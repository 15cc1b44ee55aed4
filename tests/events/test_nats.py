"""The outbox → dispatcher → JetStream → durable consumer path against a real NATS server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import nats
import pytest

from tests.events.crashing_dispatcher import CRASH_EXIT_CODE
from tests.events.helpers import emit, wait_until
from yikatong.events.dispatcher import as_event, dispatch_pending
from yikatong.events.inbox import InboxRecord, once_handler
from yikatong.events.models import OutboxEvent
from yikatong.events.nats import JetStreamBus

pytestmark = [pytest.mark.nats, pytest.mark.db]

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """A partner's effect: the events it applied, in order (thread-safe)."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, int]] = []
        self.ids: list[str] = []
        self._lock = threading.Lock()

    def apply(self, _uow, event) -> None:
        with self._lock:
            self.applied.append((event.aggregate_id, event.payload["n"]))
            self.ids.append(event.event_id)


def per_card(applied: list[tuple[str, int]]) -> dict[str, list[int]]:
    cards: dict[str, list[int]] = {}
    for card, number in applied:
        cards.setdefault(card, []).append(number)
    return cards


def inbox_count(platform, consumer: str) -> int:
    with platform.uow() as uow:
        return uow.session.query(InboxRecord).filter_by(consumer=consumer).count()


def unpublished(platform) -> int:
    with platform.uow() as uow:
        return uow.session.query(OutboxEvent).filter(OutboxEvent.published_at.is_(None)).count()


def test_publish_then_durable_consumer_receives_in_order(quiet_platform, bus):
    cards = ["6217000001", "6217000002", "6217000003"]
    emit(quiet_platform, [("card.status_changed", cards[i % 3], "ICBC") for i in range(30)])
    assert dispatch_pending(quiet_platform, bus) == 30

    everything, one_card = [], []
    bus.subscribe_partner("ICBC", "bank-all", lambda e: everything.append(e.payload["n"]))
    bus.subscribe_durable(bus.stream_for("ICBC"), "bank-card-2", lambda e: one_card.append(e.payload["n"]),
                          filter_subject=f"{bus.namespace}.bank.icbc.{cards[1]}.>")
    wait_until(lambda: len(everything) == 30 and len(one_card) == 10, what="30 + 10 events")

    assert everything == list(range(30))
    assert one_card == list(range(1, 30, 3))


def test_a_republished_event_is_stored_once(quiet_platform, bus):
    emit(quiet_platform, [("card.lost", "6217000009", "BOC")])
    with quiet_platform.uow() as uow:
        row = uow.session.query(OutboxEvent).one()
    first, second = bus.publish_with_ack(as_event(row)), bus.publish_with_ack(as_event(row))
    assert not first.duplicate and second.duplicate and second.seq == first.seq
    assert bus.stream_message_count(bus.stream_for("BOC")) == 1


def test_dispatcher_killed_between_publish_and_mark_delivers_exactly_once(quiet_platform, bus, nats_url):
    # The use cases commit; nothing is published yet (as if the process died right after commit).
    ids = emit(quiet_platform, [("card.formal_loss", f"621700010{i % 4}", "ICBC") for i in range(10)])
    assert unpublished(quiet_platform) == 10

    # A real dispatcher process publishes four events and dies before it marks any row.
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.events.crashing_dispatcher",
         quiet_platform.settings.database_url, nats_url, bus.namespace, "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 4
    assert unpublished(quiet_platform) == 10

    # The worker restarts and publishes everything again: JetStream drops the four repeats.
    assert dispatch_pending(quiet_platform, bus) == 10
    assert unpublished(quiet_platform) == 0
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 10

    bank = Recorder()
    bus.subscribe_partner("ICBC", "bank", once_handler(quiet_platform, "bank:ICBC", bank.apply))
    wait_until(lambda: len(bank.ids) == 10, what="10 applied events")
    assert bank.ids == ids
    assert inbox_count(quiet_platform, "bank:ICBC") == 10


def test_a_duplicate_beyond_the_dedupe_window_is_applied_once(quiet_platform, bus, nats_url):
    ids = emit(quiet_platform, [("card.unblocked", "6217000200", "ICBC")])
    dispatch_pending(quiet_platform, bus)

    async def republish_without_msg_id() -> None:  # what arrives after the window expired
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().get_msg(bus.stream_for("ICBC"), 1)
        await nc.jetstream().publish(info.subject, info.data)
        await nc.close()

    asyncio.run(republish_without_msg_id())
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 2

    bank = Recorder()
    subscription = bus.subscribe_partner("ICBC", "bank", once_handler(quiet_platform, "bank:ICBC", bank.apply))
    wait_until(lambda: subscription.applied == 2, what="both copies acked")
    assert bank.ids == ids
    assert inbox_count(quiet_platform, "bank:ICBC") == 1


def test_bank_down_for_100_changes_gets_all_in_order_afterwards(quiet_platform, bus, nats_url):
    cards = [f"62170003{i:02d}" for i in range(7)]
    bank = Recorder()
    failed_once: set[str] = set()

    def flaky_apply(uow, event) -> None:
        # The bank's database hiccups on one event: it must come again, and nothing overtakes it.
        if event.payload["n"] == 50 and event.event_id not in failed_once:
            failed_once.add(event.event_id)
            raise RuntimeError("bank database unavailable")
        bank.apply(uow, event)

    def start_bank() -> tuple[JetStreamBus, object]:
        bank_bus = JetStreamBus(nats_url, namespace=bus.namespace)  # the bank's own process
        handler = once_handler(quiet_platform, "bank:ICBC", flaky_apply)
        return bank_bus, bank_bus.subscribe_partner("ICBC", "bank", handler, redelivery_base_seconds=0.05)

    bank_bus, _ = start_bank()
    emit(quiet_platform, [("card.status_changed", cards[0], "ICBC")] * 3, phase="before")
    dispatch_pending(quiet_platform, bus)
    wait_until(lambda: len(bank.ids) == 3, what="the first three events")
    bank_bus.close()  # the bank goes down

    changes = [("card.status_changed", cards[i % 7], "ICBC") for i in range(100)]
    ids = emit(quiet_platform, changes, phase="down")
    assert dispatch_pending(quiet_platform, bus) == 100

    bank.applied.clear()
    bank.ids.clear()
    bank_bus, _ = start_bank()  # back up: it resumes from its durable position
    try:
        wait_until(lambda: len(bank.ids) == 100, timeout=60, what="100 applied events")
    finally:
        bank_bus.close()
    assert bank.ids == ids
    expected = per_card([(card, number) for number, (_, card, _) in enumerate(changes)])
    assert per_card(bank.applied) == expected
    assert failed_once, "the failing event was exercised"
    assert inbox_count(quiet_platform, "bank:ICBC") == 103


def test_live_subscribe_filters_by_type(quiet_platform, bus):
    seen = []
    bus.subscribe("card.lost", lambda e: seen.append(e.aggregate_id))
    emit(quiet_platform, [("card.lost", "6217000401", None), ("card.found", "6217000402", None),
                          ("card.lost", "6217000403", "BOC")])
    dispatch_pending(quiet_platform, bus)
    wait_until(lambda: len(seen) == 2, what="two live deliveries")
    assert seen == ["6217000401", "6217000403"]


def test_a_failure_mid_batch_publishes_the_prefix_only(quiet_platform, bus):
    # An event whose partner code cannot name a stream fails; nothing behind it may overtake it.
    emit(quiet_platform, [("card.lost", "6217000501", "ICBC"), ("card.lost", "6217000502", "ICBC"),
                          ("card.lost", "6217000503", "IC.BC"), ("card.lost", "6217000504", "ICBC")])
    assert dispatch_pending(quiet_platform, bus) == 2
    with quiet_platform.uow() as uow:
        rows = uow.session.query(OutboxEvent).order_by(OutboxEvent.seq).all()
    assert [row.published_at is not None for row in rows] == [True, True, False, False]
    assert [row.attempts for row in rows] == [0, 0, 1, 0]
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 2
