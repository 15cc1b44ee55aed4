"""The wire form of an event: one JSON document, the same on NATS and in webhooks.

Partners decode it with any JSON library; `occurred_at` is ISO 8601 in UTC.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from yikatong.core.clock import as_utc
from yikatong.events.protocols import Event


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


def encode_event(event: Event) -> bytes:
    return json.dumps(event_to_dict(event), ensure_ascii=False, separators=(",", ":")).encode()


def decode_event(body: bytes | str) -> Event:
    """The Event in a wire document; ValueError/KeyError when it is not one."""
    data = json.loads(body)
    return Event(
        event_id=data["event_id"], type=data["type"], aggregate_type=data["aggregate_type"],
        aggregate_id=data["aggregate_id"], partner=data.get("partner"),
        payload=data.get("payload") or {},
        occurred_at=as_utc(datetime.fromisoformat(data["occurred_at"])), seq=int(data["seq"]),
    )
