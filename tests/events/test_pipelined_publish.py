"""The dispatcher's pipelined publish to JetStream: every ack is checked, and only acked
rows are marked published (events.nats, publish_batch)."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js import api

from tests.events.helpers import emit
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.models import OutboxEvent
from yikatong.events.nats import JetStreamBus, partner_stream, stream_subject

pytestmark = [pytest.mark.nats, pytest.mark.db]


def rows_by_card(platform) -> dict[str, list[OutboxEvent]]:
    with platform.uow() as uow:
        rows = uow.session.query(OutboxEvent).order_by(OutboxEvent.seq).all()
    cards: dict[str, list[OutboxEvent]] = {}
    for row in rows:
        cards.setdefault(row.aggregate_id, []).append(row)
    return cards


def make_stream(nats_url: str, namespace: str, partner: str, **options) -> None:
    """The partner's stream made beforehand with `options`; the bus finds and uses it."""

    async def add() -> None:
        nc = await nats.connect(nats_url)
        config = api.StreamConfig(name=partner_stream(partner, namespace),
                                  subjects=[stream_subject(partner, namespace)],
                                  duplicate_window=600, **options)
        try:
            await nc.jetstream().add_stream(config)
        finally:
            await nc.close()

    asyncio.run(add())


def update_stream(nats_url: str, namespace: str, partner: str, **options) -> None:
    async def update() -> None:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(partner_stream(partner, namespace))
            await js.update_stream(info.config.evolve(**options))
        finally:
            await nc.close()

    asyncio.run(update())


def test_the_one_event_jetstream_refuses_stays_pending_and_the_rest_are_marked(quiet_platform, bus,
                                                                              nats_url):
    # The server refuses one message (bigger than the stream allows); its ack is an error.
    make_stream(nats_url, bus.namespace, "ICBC", max_msg_size=2000)
    emit(quiet_platform, [("card.lost", f"62170007{n:02d}", "ICBC") for n in range(12)])
    emit(quiet_platform, [("card.lost", "6217000799", "ICBC")], note="x" * 4000)  # refused
    emit(quiet_platform, [("card.lost", f"62170008{n:02d}", "ICBC") for n in range(12)])

    assert dispatch_pending(quiet_platform, bus) == 24

    cards = rows_by_card(quiet_platform)
    pending = [row for rows in cards.values() for row in rows if row.published_at is None]
    assert [row.aggregate_id for row in pending] == ["6217000799"]
    assert pending[0].attempts == 1
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 24


def test_an_ack_that_never_comes_marks_nothing_and_the_retry_is_deduplicated(quiet_platform, nats_url,
                                                                            namespace):
    # A stream that stores messages but sends no acks: every publish times out, stored.
    make_stream(nats_url, namespace, "BOC", no_ack=True)
    impatient = JetStreamBus(nats_url, namespace=namespace, publish_timeout=0.5)
    try:
        emit(quiet_platform, [("card.lost", f"62170010{n % 3:02d}", "BOC") for n in range(9)])

        assert dispatch_pending(quiet_platform, impatient) == 0
        rows = [row for rows in rows_by_card(quiet_platform).values() for row in rows]
        assert all(row.published_at is None for row in rows)
        assert impatient.stream_message_count(impatient.stream_for("BOC")) == 9  # stored all the same

        update_stream(nats_url, namespace, "BOC", no_ack=False)  # acks flow again
        assert dispatch_pending(quiet_platform, impatient) == 9
        rows = [row for rows in rows_by_card(quiet_platform).values() for row in rows]
        assert all(row.published_at is not None for row in rows)
        # The nine re-sent events fell inside the duplicate window (same Nats-Msg-Id).
        assert impatient.stream_message_count(impatient.stream_for("BOC")) == 9
    finally:
        impatient.delete_stream(partner_stream("BOC", namespace))
        impatient.close()


def test_batches_overlapped_publish_everything_in_order_and_mark_it(quiet_platform, bus):
    # Limit 4: each batch goes out while the next is read and the one before is marked.
    emit(quiet_platform, [("card.lost", f"62170011{n % 3:02d}", "ICBC") for n in range(23)])

    assert dispatch_pending(quiet_platform, bus, limit=4) == 23

    rows = [row for rows in rows_by_card(quiet_platform).values() for row in rows]
    assert all(row.published_at is not None for row in rows) and len(rows) == 23
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 23


def test_no_batch_goes_out_behind_a_batch_with_a_refused_event(quiet_platform, bus, nats_url):
    make_stream(nats_url, bus.namespace, "ICBC", max_msg_size=2000)
    emit(quiet_platform, [("card.lost", f"62170012{n:02d}", "ICBC") for n in range(6)])
    emit(quiet_platform, [("card.lost", "6217001299", "ICBC")], note="x" * 4000)  # refused
    emit(quiet_platform, [("card.lost", f"62170013{n:02d}", "ICBC") for n in range(9)])

    # Batches of 4: rows 0-3, then 4-7 with the refused 7th row (index 6); rows 8-15 were
    # read ahead but must not be sent.
    assert dispatch_pending(quiet_platform, bus, limit=4) == 7

    rows = sorted((row for rows in rows_by_card(quiet_platform).values() for row in rows),
                  key=lambda row: row.seq)
    assert [row.published_at is None for row in rows] == [False] * 6 + [True] + [False] + [True] * 8
    assert rows[6].attempts == 1
    assert bus.stream_message_count(bus.stream_for("ICBC")) == 7
