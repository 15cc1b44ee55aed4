"""The bank's messages on the wire (docs/bank-interface.md), the same in-process and on NATS.

Both directions share each partner bank's JetStream stream `YKT_BANK_<CODE>`
(subjects `ykt.bank.<code>.<card_no>.<type…>`, see events.nats):

* platform → bank: the platform's outbox events about the bank's cards, types `card.*`;
  the bank reads them with the filter `ykt.bank.<code>.*.card.>`;
* bank → platform: the bank's events, types `bank.<BankEventType>` (e.g. `bank.formal_loss`),
  event id = the bank's event id; the platform reads them with `ykt.bank.<code>.*.bank.>`.

Requests the platform makes through `BankGateway` are core NATS request/reply on
`ykt.bankrpc.<code>` (banking.nats_gateway), JSON in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yikatong.banking.models import BankOutboxMessage
from yikatong.cards.protocols import BankEvent, BankEventType
from yikatong.core.clock import as_utc
from yikatong.events.protocols import Event

BANK_MESSAGE_PREFIX = "bank."


def platform_events_filter(namespace: str, bank_code: str) -> str:
    """The subjects of the platform's events about this bank's cards."""
    return f"{namespace}.bank.{bank_code.lower()}.*.card.>"


def bank_messages_filter(namespace: str, bank_code: str) -> str:
    """The subjects of this bank's own messages to the platform."""
    return f"{namespace}.bank.{bank_code.lower()}.*.bank.>"


def rpc_subject(namespace: str, bank_code: str) -> str:
    return f"{namespace}.bankrpc.{bank_code.lower()}"


@dataclass(frozen=True)
class BankMessage:
    """A bank event as the platform receives it. `hr_function`: the holder reported (or
    unblocked) the card at a branch of the bank, which covers the HR function too (四.6(1))."""

    event: BankEvent
    hr_function: bool = False
    branch_code: str | None = None


def message_of(row: BankOutboxMessage) -> Event:
    """The wire form of one row of the bank's outbox."""
    return Event(event_id=row.event_id, type=f"{BANK_MESSAGE_PREFIX}{row.type}",
                 aggregate_type="card", aggregate_id=row.card_no, partner=row.bank_code,
                 payload=dict(row.payload), occurred_at=as_utc(row.occurred_at), seq=row.seq)


def is_bank_message(event: Event) -> bool:
    return event.type.startswith(BANK_MESSAGE_PREFIX)


def decode(event: Event) -> BankMessage:
    """A BankMessage from its wire form; ValueError/KeyError when it is not one."""
    if not is_bank_message(event) or not event.partner:
        raise ValueError(f"not a bank message: {event.type}")
    payload = event.payload
    bank_event = BankEvent(
        event_id=event.event_id, bank_code=event.partner, card_no=event.aggregate_id,
        pan=payload["pan"], type=BankEventType(event.type.removeprefix(BANK_MESSAGE_PREFIX)),
        occurred_at=as_utc(event.occurred_at), channel=payload.get("channel"),
        ends_at=_instant(payload.get("ends_at")), task_id=payload.get("task_id"),
        note=payload.get("note"))
    return BankMessage(event=bank_event, hr_function=bool(payload.get("hr_function")),
                       branch_code=payload.get("branch_code"))


def event_to_dict(event: BankEvent) -> dict[str, Any]:
    return {"event_id": event.event_id, "bank_code": event.bank_code, "card_no": event.card_no,
            "pan": event.pan, "type": str(event.type),
            "occurred_at": as_utc(event.occurred_at).isoformat(), "channel": event.channel,
            "ends_at": as_utc(event.ends_at).isoformat() if event.ends_at else None,
            "task_id": event.task_id, "note": event.note}


def event_from_dict(data: dict[str, Any]) -> BankEvent:
    return BankEvent(event_id=data["event_id"], bank_code=data["bank_code"],
                     card_no=data["card_no"], pan=data["pan"], type=BankEventType(data["type"]),
                     occurred_at=_instant(data["occurred_at"]), channel=data.get("channel"),
                     ends_at=_instant(data.get("ends_at")), task_id=data.get("task_id"),
                     note=data.get("note"))


def _instant(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value else None
