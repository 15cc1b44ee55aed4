"""The idempotent consumer (inbox), the wire format, subject naming and the transport wiring."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from tests.events.helpers import emit
from yikatong.core.settings import Settings
from yikatong.events.bus import InProcessBus
from yikatong.events.codec import decode_event, encode_event
from yikatong.events.dispatcher import dispatch_pending
from yikatong.events.inbox import InboxRecord, consume_once
from yikatong.events.models import OutboxEvent
from yikatong.events.nats import JetStreamBus, partner_stream, stream_subject, subject_for
from yikatong.events.protocols import Event, EventBus
from yikatong.platform import Platform
from yikatong.worker.runner import all_jobs

EVENT = Event(event_id="0d9c7a52-5a8e-4c64-9b3e-2f3a1c1b7e01", type="card.formal_loss",
              aggregate_type="card", aggregate_id="6217000601", partner="ICBC",
              payload={"reason": "挂失", "channel": "branch"},
              occurred_at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC), seq=41)


def test_wire_format_round_trips_with_chinese_text():
    body = encode_event(EVENT)
    assert "挂失".encode() in body
    assert decode_event(body) == EVENT


@pytest.mark.parametrize(("event", "subject"), [
    (EVENT, "ykt.bank.icbc.6217000601.card.formal_loss"),
    (Event(**{**EVENT.__dict__, "partner": None}), "ykt.platform.6217000601.card.formal_loss"),
    (Event(**{**EVENT.__dict__, "aggregate_id": "a.b *>c", "type": "x>y"}), "ykt.bank.icbc.a_b___c.x_y"),
])
def test_subjects_per_event(event, subject):
    assert subject_for(event) == subject


def test_streams_per_partner():
    assert partner_stream("ICBC") == "YKT_BANK_ICBC" and stream_subject("ICBC") == "ykt.bank.icbc.>"
    assert partner_stream(None) == "YKT_PLATFORM" and stream_subject(None) == "ykt.platform.>"
    with pytest.raises(ValueError):
        partner_stream("IC.BC")


@pytest.mark.db
def test_inbox_applies_a_duplicate_once_and_per_consumer(platform):
    applied = []

    def apply(_uow, event):
        applied.append(event.event_id)

    for consumer in ("bank:ICBC", "bank:ICBC", "ecard"):
        with platform.uow() as uow:
            consume_once(uow, consumer, EVENT, apply)
            uow.commit()
    assert applied == [EVENT.event_id, EVENT.event_id]
    with platform.uow() as uow:
        assert uow.session.query(InboxRecord).count() == 2


@pytest.mark.db
def test_a_failed_application_leaves_no_inbox_record(platform):
    def fail(_uow, _event):
        raise RuntimeError("the effect failed")

    with platform.uow() as uow, pytest.raises(RuntimeError):
        consume_once(uow, "bank:ICBC", EVENT, fail)
    with platform.uow() as uow:
        assert consume_once(uow, "bank:ICBC", EVENT, lambda _uow, _e: None) is True
        uow.commit()


@pytest.mark.db
def test_a_racing_duplicate_fails_on_the_unique_constraint(platform):
    with platform.uow() as uow:
        uow.session.add(InboxRecord(consumer="bank:ICBC", event_id=EVENT.event_id, processed_at=uow.now()))
        uow.session.add(InboxRecord(consumer="bank:ICBC", event_id=EVENT.event_id, processed_at=uow.now()))
        with pytest.raises(IntegrityError):
            uow.session.flush()


def test_nats_url_selects_jetstream_lazily(database_url, clock, tmp_path):
    settings = Settings(database_url=database_url, nats_url="nats://127.0.0.1:1",
                        key_store_path=str(tmp_path / "keys.json"))
    with_nats = Platform(settings, clock=clock)
    bus = with_nats.get(EventBus)  # building it does not connect (nothing listens on port 1)
    assert isinstance(bus, JetStreamBus) and bus.url == "nats://127.0.0.1:1"
    bus.close()
    with_nats.engine.dispose()
    default = Platform(Settings(database_url=database_url, key_store_path=str(tmp_path / "k.json")), clock=clock)
    assert isinstance(default.get(EventBus), InProcessBus)
    default.engine.dispose()


def test_worker_runs_dispatch_and_webhook_jobs():
    names = {job.name for job in all_jobs()}
    assert {"events.dispatch_outbox", "events.deliver_webhooks"} <= names


@pytest.mark.db
def test_an_unreachable_nats_leaves_events_in_the_outbox(platform):
    platform.after_commit.clear()
    emit(platform, [("card.lost", "6217000701", "ICBC")])
    bus = JetStreamBus("nats://127.0.0.1:1", connect_timeout=0.3)
    try:
        assert dispatch_pending(platform, bus) == 0
    finally:
        bus.close()
    with platform.uow() as uow:
        row = uow.session.query(OutboxEvent).one()
        assert row.published_at is None and row.attempts == 1


@pytest.mark.db
def test_losing_the_race_to_another_delivery_is_not_an_error(platform, monkeypatch):
    """Both deliveries passed the 'already applied?' check before either wrote its row: the
    one that loses on the unique constraint applies nothing and raises nothing."""
    applied = []
    with platform.uow() as uow:
        assert consume_once(uow, "ecard", EVENT, lambda _uow, e: applied.append(e.event_id))
        uow.commit()
    monkeypatch.setattr("yikatong.events.inbox.already_applied", lambda *_args: False)
    with platform.uow() as uow:
        assert not consume_once(uow, "ecard", EVENT, lambda _uow, e: applied.append(e.event_id))
        uow.commit()  # the transaction is still usable after the lost race
    assert applied == [EVENT.event_id]


def test_the_in_process_bus_remembers_only_the_latest_deliveries():
    from dataclasses import replace

    from yikatong.events.bus import RECENT_DELIVERIES

    bus = InProcessBus()
    seen = []
    bus.subscribe("*", lambda event: seen.append(event.seq))
    for seq in range(RECENT_DELIVERIES + 5):
        bus.publish(replace(EVENT, seq=seq))
    assert len(seen) == RECENT_DELIVERIES + 5  # every event reaches its handlers
    assert len(bus.delivered) == RECENT_DELIVERIES and bus.delivered[0].seq == 5
