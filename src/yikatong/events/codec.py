"""The wire form of an event: one JSON document, the same on NATS and in webhooks.

Partners decode it with any JSON library; `occurred_at` is ISO 8601 in UTC.

The document is built from its fields here rather than by `json.dumps` of a dict, so the
dispatcher can put an outbox row's payload on the wire as the database holds it, without
decoding and encoding it again (`StoredEvent`): the outbox stores payloads in the wire's own
form (`WirePayload`: compact, UTF-8 unescaped), so both routes give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring  # what json.dumps(..., ensure_ascii=False) uses
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON
from sqlalchemy.types import TypeDecorator

from yikatong.core.clock import as_utc
from yikatong.events.protocols import Event

if TYPE_CHECKING:  # the models import this module (WirePayload)
    from yikatong.events.models import OutboxEvent


def as_event(row: OutboxEvent) -> Event:
    """The Event of an outbox row."""
    return Event(
        event_id=row.event_id, type=row.type, aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id, partner=row.partner, payload=row.payload,
        occurred_at=row.occurred_at, seq=row.seq,
    )


def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "seq": event.seq,
        "type": event.type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "partner": event.partner,
        "occurred_at": as_utc(event.occurred_at).isoformat(),
        "payload": event.payload,
    }


def encode_payload(payload: Any) -> str:
    """A payload in the wire's form, as `json.dumps` writes it inside the whole document."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def wire_document(*, event_id: str, seq: int, type: str, aggregate_type: str,  # noqa: A002
                  aggregate_id: str, partner: str | None, occurred_at: datetime,
                  payload_json: str) -> bytes:
    """The wire document of these fields around a payload already in JSON: byte for byte
    `json.dumps(event_to_dict(...), ensure_ascii=False, separators=(",", ":"))` when
    `payload_json` is `encode_payload(payload)` (tests/events/test_codec.py)."""
    return (f'{{"event_id":{encode_basestring(event_id)},"seq":{int(seq)!r},'
            f'"type":{encode_basestring(type)},"aggregate_type":{encode_basestring(aggregate_type)},'
            f'"aggregate_id":{encode_basestring(aggregate_id)},'
            f'"partner":{"null" if partner is None else encode_basestring(partner)},'
            f'"occurred_at":{encode_basestring(as_utc(occurred_at).isoformat())},'
            f'"payload":{payload_json}}}').encode()


def encode_event(event: Event) -> bytes:
    return wire_document(event_id=event.event_id, seq=event.seq, type=event.type,
                         aggregate_type=event.aggregate_type, aggregate_id=event.aggregate_id,
                         partner=event.partner, occurred_at=event.occurred_at,
                         payload_json=encode_payload(event.payload))


def decode_event(body: bytes | str) -> Event:
    """The Event in a wire document; ValueError/KeyError when it is not one."""
    data = json.loads(body)
    return Event(
        event_id=data["event_id"], type=data["type"], aggregate_type=data["aggregate_type"],
        aggregate_id=data["aggregate_id"], partner=data.get("partner"),
        payload=data.get("payload") or {},
        occurred_at=as_utc(datetime.fromisoformat(data["occurred_at"])), seq=int(data["seq"]),
    )


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An outbox row as the dispatcher reads it: `payload_json` is the payload's text as
    stored, never decoded on the way to JetStream (`wire`); `event()` decodes it for a bus
    that hands Events to handlers."""

    event_id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    partner: str | None
    payload_json: str
    occurred_at: datetime
    seq: int

    def wire(self) -> bytes:
        """The wire document. The same bytes as `encode_event(self.event())` for every row
        stored through `WirePayload`; a row stored before it (its payload spaced and
        \\u-escaped, as json.dumps writes by default) keeps that spelling of the same value."""
        return wire_document(event_id=self.event_id, seq=self.seq, type=self.type,
                             aggregate_type=self.aggregate_type, aggregate_id=self.aggregate_id,
                             partner=self.partner, occurred_at=self.occurred_at,
                             payload_json=self.payload_json)

    def event(self) -> Event:
        return Event(event_id=self.event_id, type=self.type, aggregate_type=self.aggregate_type,
                     aggregate_id=self.aggregate_id, partner=self.partner,
                     payload=json.loads(self.payload_json), occurred_at=self.occurred_at,
                     seq=self.seq)


class WirePayload(TypeDecorator):
    """JSON stored in the wire's form (`encode_payload`) instead of json.dumps' default (", "
    separators, non-ASCII \\u-escaped), so the stored text can go on the wire as it is. A JSON
    column to the database and to readers alike; only the spelling of the text written
    differs. PostgreSQL's `json` type keeps the text as given."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect):
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            from psycopg.types.json import Json

            return lambda value: Json(value, dumps=encode_payload)
        return lambda value: encode_payload(value)
