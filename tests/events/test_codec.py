"""The wire form: built from its fields (events.codec.wire_document) it is byte for byte the
JSON document it always was, and an outbox row read by the dispatcher with its payload as
stored (StoredEvent.wire) goes out as exactly the bytes `encode_event` gives for that row."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from yikatong.events import dispatcher
from yikatong.events.codec import decode_event, encode_event, event_to_dict
from yikatong.events.dispatcher import as_event
from yikatong.events.models import OutboxEvent
from yikatong.events.protocols import Event

PAYLOADS = [
    {},
    {"card_no": "6217001234567890", "reason_zh": "持卡人在网点办理正式挂失", "n": 7},
    {"quote": 'say "hi"\\', "control": "tab\tnew\nline\x01\x1f", "separators": "\u2028\u2029",
     "emoji": "卡💳", "nested": {"list": [1, 2.5, -0.0, 1e300, None, True, False, "三"]},
     "big": 2**70, "neg": -12, "empty": [], "keys with spaces": {": ,": ", :"}},
    {"amount_fen": 123456789, "when": "2026-03-02T09:30:00+08:00", "ok": None},
]


def as_before(event: Event) -> bytes:
    """The wire document as codec.encode_event built it before (json.dumps of the dict)."""
    return json.dumps(event_to_dict(event), ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("partner", ["ICBC", None])
def test_encode_event_is_byte_for_byte_the_json_document_it_was(payload, partner):
    event = Event(event_id="0b6c6f7e-2f0e-4d7a-9c1e-5f3a2b1c0d9e", type="card.formal_loss_reported",
                  aggregate_type="card", aggregate_id='62170"01\\', partner=partner, payload=payload,
                  occurred_at=datetime(2026, 3, 2, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
                  seq=2**40 + 3)
    assert encode_event(event) == as_before(event)
    assert decode_event(encode_event(event)) == decode_event(as_before(event))


@pytest.mark.db
def test_an_outbox_row_goes_on_the_wire_as_the_bytes_encode_event_gives(platform):
    platform.after_commit.clear()
    with platform.uow() as uow:
        for number, payload in enumerate(PAYLOADS):
            uow.emit("card.lost", aggregate_type="card", aggregate_id=f"621700{number:04d}",
                     partner="ICBC" if number % 2 else None, payload=payload)
        uow.commit()
    with platform.uow() as uow:
        stored = dispatcher._read_pending(uow, 100)
        rows = {row.seq: row for row in uow.session.execute(select(OutboxEvent)).scalars()}
    assert len(stored) == len(PAYLOADS)
    for item in stored:
        event = as_event(rows[item.seq])
        assert item.wire() == encode_event(event) == as_before(event)
        assert decode_event(item.wire()) == event == item.event()


@pytest.mark.db
def test_a_row_stored_before_the_wire_form_goes_out_as_the_same_value(platform):
    """A row written by the previous release (json.dumps' default spelling: ", " and \\u
    escapes), still pending at the upgrade: the same JSON value, spelled as stored."""
    platform.after_commit.clear()
    payload = PAYLOADS[1]
    with platform.uow() as uow:
        row = uow.emit("card.lost", aggregate_type="card", aggregate_id="6217000001", partner="ICBC",
                       payload=payload)
        uow.commit()
    legacy = json.dumps(payload)
    with platform.uow() as uow:
        as_json = "CAST(:legacy AS JSON)" if uow.session.get_bind().dialect.name == "postgresql" else ":legacy"
        uow.session.execute(text(f"UPDATE outbox_events SET payload = {as_json} WHERE seq = :seq"),
                            {"legacy": legacy, "seq": row.seq})
        uow.commit()
    with platform.uow() as uow:
        (item,) = dispatcher._read_pending(uow, 10)
        event = as_event(uow.session.execute(select(OutboxEvent)).scalar_one())
    assert item.payload_json == legacy
    assert event.payload == payload
    assert decode_event(item.wire()) == event == item.event()
